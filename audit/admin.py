"""Read-only admin for the audit trail (tenant admins see their tenant's events)."""

from __future__ import annotations

from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "created_at",
        "kind",
        "action",
        "decision",
        "reason",
        "actor_name",
        "tenant_slug",
        "model",
        "cost_usd",
    ]
    list_filter = ["kind", "decision"]
    search_fields = ["request_id", "actor_name", "action", "model"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if getattr(request.user, "is_operator", False):
            return queryset
        return queryset.filter(tenant_id=request.user.tenant_id)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
