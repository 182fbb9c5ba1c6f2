using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class GenerationParametersAndText : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "parameters",
                table: "inference_sagas",
                type: "jsonb",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "stream",
                table: "inference_sagas",
                type: "boolean",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "finish_reason",
                table: "inference_results",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<byte[]>(
                name: "text_utf8",
                table: "inference_results",
                type: "bytea",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "parameters",
                table: "inference_sagas");

            migrationBuilder.DropColumn(
                name: "stream",
                table: "inference_sagas");

            migrationBuilder.DropColumn(
                name: "finish_reason",
                table: "inference_results");

            migrationBuilder.DropColumn(
                name: "text_utf8",
                table: "inference_results");
        }
    }
}
