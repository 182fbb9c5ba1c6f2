using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class TenantPlansKeysUsage : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AlterColumn<long>(
                name: "tokens_per_minute",
                table: "tenants",
                type: "bigint",
                nullable: true,
                oldClrType: typeof(long),
                oldType: "bigint");

            migrationBuilder.AlterColumn<long>(
                name: "tokens_per_day",
                table: "tenants",
                type: "bigint",
                nullable: true,
                oldClrType: typeof(long),
                oldType: "bigint");

            migrationBuilder.AddColumn<long>(
                name: "max_concurrent",
                table: "tenants",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "max_inputs_per_request",
                table: "tenants",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "requests_per_minute",
                table: "tenants",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "tokens_per_month",
                table: "tenants",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "expires_at",
                table: "api_keys",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "key_prefix",
                table: "api_keys",
                type: "character varying(16)",
                maxLength: 16,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "name",
                table: "api_keys",
                type: "character varying(100)",
                maxLength: 100,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "usage_records",
                columns: table => new
                {
                    inference_id = table.Column<Guid>(type: "uuid", nullable: false),
                    tenant_id = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    model = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    prompt_tokens = table.Column<long>(type: "bigint", nullable: false),
                    completion_tokens = table.Column<long>(type: "bigint", nullable: false),
                    total_tokens = table.Column<long>(type: "bigint", nullable: false),
                    submitted_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    completed_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_usage_records", x => x.inference_id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_tenant_completed",
                table: "usage_records",
                columns: new[] { "tenant_id", "completed_at" });

            migrationBuilder.CreateIndex(
                name: "ix_usage_records_tenant_submitted",
                table: "usage_records",
                columns: new[] { "tenant_id", "submitted_at" });

            // A limit of 0 meant "no limit"; a plan says so with NULL now.
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

            migrationBuilder.DropTable(
                name: "usage_records");

            migrationBuilder.DropColumn(
                name: "max_concurrent",
                table: "tenants");

            migrationBuilder.DropColumn(
                name: "max_inputs_per_request",
                table: "tenants");

            migrationBuilder.DropColumn(
                name: "requests_per_minute",
                table: "tenants");

            migrationBuilder.DropColumn(
                name: "tokens_per_month",
                table: "tenants");

            migrationBuilder.DropColumn(
                name: "expires_at",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "key_prefix",
                table: "api_keys");

            migrationBuilder.DropColumn(
                name: "name",
                table: "api_keys");

            migrationBuilder.AlterColumn<long>(
                name: "tokens_per_minute",
                table: "tenants",
                type: "bigint",
                nullable: false,
                defaultValue: 0L,
                oldClrType: typeof(long),
                oldType: "bigint",
                oldNullable: true);

            migrationBuilder.AlterColumn<long>(
                name: "tokens_per_day",
                table: "tenants",
                type: "bigint",
                nullable: false,
                defaultValue: 0L,
                oldClrType: typeof(long),
                oldType: "bigint",
                oldNullable: true);
        }
    }
}
