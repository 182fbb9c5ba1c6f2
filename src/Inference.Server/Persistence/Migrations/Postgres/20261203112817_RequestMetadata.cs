using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class RequestMetadata : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "metadata",
                table: "inference_sagas",
                type: "jsonb",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "metadata",
                table: "inference_sagas");
        }
    }
}
