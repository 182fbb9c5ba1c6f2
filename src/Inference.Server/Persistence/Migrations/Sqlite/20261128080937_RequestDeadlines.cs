using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class RequestDeadlines : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "deadline_at",
                table: "inference_sagas",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<Guid>(
                name: "last_message_id",
                table: "inference_sagas",
                type: "TEXT",
                nullable: true);

            // Requests stored before deadlines existed get the default one (10 minutes), counted from their submission.
            migrationBuilder.Sql("UPDATE inference_sagas SET deadline_at = created_at + 6000000000;");

            migrationBuilder.CreateIndex(
                name: "ix_inference_sagas_state_deadline",
                table: "inference_sagas",
                columns: new[] { "current_state", "deadline_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_inference_sagas_state_deadline",
                table: "inference_sagas");

            migrationBuilder.DropColumn(
                name: "deadline_at",
                table: "inference_sagas");

            migrationBuilder.DropColumn(
                name: "last_message_id",
                table: "inference_sagas");
        }
    }
}
