using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class TenantPlansNullLimits : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // A limit of 0 meant "no limit"; a plan says so with NULL now. Apart from the migration that made the columns
            // nullable: SQLite rebuilds the table at that migration's end, after any SQL in it.
            migrationBuilder.Sql("UPDATE tenants SET tokens_per_minute = NULL WHERE tokens_per_minute = 0;");
            migrationBuilder.Sql("UPDATE tenants SET tokens_per_day = NULL WHERE tokens_per_day = 0;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("UPDATE tenants SET tokens_per_minute = 0 WHERE tokens_per_minute IS NULL;");
            migrationBuilder.Sql("UPDATE tenants SET tokens_per_day = 0 WHERE tokens_per_day IS NULL;");
        }
    }
}
