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

            // The ledger starts with the completed requests still kept (Retention:FinalAfter), so that a rebuild of the quota
            // windows right after the upgrade does not forget what was spent before it.
            migrationBuilder.Sql(
                "INSERT INTO usage_records (inference_id, tenant_id, model, prompt_tokens, completion_tokens, total_tokens, submitted_at, completed_at) " +
                "SELECT correlation_id, tenant_id, model, prompt_tokens, completion_tokens, prompt_tokens + completion_tokens, created_at, updated_at " +
                "FROM inference_sagas WHERE current_state = 'Completed' AND prompt_tokens + completion_tokens > 0;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("UPDATE tenants SET tokens_per_minute = 0 WHERE tokens_per_minute IS NULL;");
            migrationBuilder.Sql("UPDATE tenants SET tokens_per_day = 0 WHERE tokens_per_day IS NULL;");
        }
    }
}
