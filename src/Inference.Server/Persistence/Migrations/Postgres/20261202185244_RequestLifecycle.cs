using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Inference.Server.Persistence.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class RequestLifecycle : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_inference_sagas_tenant_created",
                table: "inference_sagas");

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "disabled_at",
                table: "tenants",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "cancel_at",
                table: "inference_sagas",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_inference_sagas_state_updated",
                table: "inference_sagas",
                columns: new[] { "current_state", "updated_at" });

            migrationBuilder.CreateIndex(
                name: "ix_inference_sagas_tenant_created",
                table: "inference_sagas",
                columns: new[] { "tenant_id", "created_at", "correlation_id" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_inference_sagas_state_updated",
                table: "inference_sagas");

            migrationBuilder.DropIndex(
                name: "ix_inference_sagas_tenant_created",
                table: "inference_sagas");

            migrationBuilder.DropColumn(
                name: "disabled_at",
                table: "tenants");

            migrationBuilder.DropColumn(
                name: "cancel_at",
                table: "inference_sagas");

            migrationBuilder.CreateIndex(
                name: "ix_inference_sagas_tenant_created",
                table: "inference_sagas",
                columns: new[] { "tenant_id", "created_at" });
        }
    }
}
