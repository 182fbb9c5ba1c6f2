using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class RequestDeadlines : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "deadline_at",
                table: "inference_sagas",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)));

            migrationBuilder.AddColumn<Guid>(
                name: "last_message_id",
                table: "inference_sagas",
                type: "uuid",
                nullable: true);

            // Requests stored before deadlines existed get the default one (10 minutes), counted from their submission.
            migrationBuilder.Sql("UPDATE inference_sagas SET deadline_at = created_at + interval '10 minutes';");

            // During a rolling upgrade, orchestrators of the previous version still insert rows without a deadline;
            // they get the default one instead of year 1 (which the sweeper would fail at once). The model declares
            // no default, as every row written by this version sets its own.
            migrationBuilder.Sql("ALTER TABLE inference_sagas ALTER COLUMN deadline_at SET DEFAULT now() + interval '10 minutes';");

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
