using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Sqlite
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
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<bool>(
                name: "stream",
                table: "inference_sagas",
                type: "INTEGER",
                nullable: false,
                defaultValue: false);

            migrationBuilder.AddColumn<string>(
                name: "finish_reason",
                table: "inference_results",
                type: "TEXT",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<byte[]>(
                name: "text_utf8",
                table: "inference_results",
                type: "BLOB",
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
