"""A read-only Django admin for the webhook deliveries kept for background processing,
with a "retry" action (used when ``django.contrib.admin`` is installed)."""

from __future__ import annotations

from typing import Any

from django.apps import apps

from anymail.models import OutboxMessage, WebhookDelivery

__all__ = ["OutboxMessageAdmin", "WebhookDeliveryAdmin"]

# Django imports an app's admin module only when django.contrib.admin is installed,
# but a tool may import every module: without the admin app, there's nothing to do
# (django.contrib.admin itself can't be imported then).
if apps.is_installed("django.contrib.admin"):
    from django.contrib import admin, messages

    @admin.register(WebhookDelivery)
    class WebhookDeliveryAdmin(admin.ModelAdmin):
        list_display = (
            "id",
            "esp_id",
            "state",
            "attempts",
            "events",
            "received_at",
            "next_attempt_at",
        )
        list_filter = ("state", "esp_id")
        search_fields = ("=id", "last_error")
        date_hierarchy = "received_at"
        # The body is the ESP's data (addresses, message content): shown only on the
        # change page, never in the list.
        readonly_fields = (
            "esp_id",
            "view",
            "state",
            "attempts",
            "events",
            "last_error",
            "received_at",
            "next_attempt_at",
            "lease_until",
            "finished_at",
            "request_meta",
            "body_preview",
        )
        exclude = ("body", "key")
        actions = ["retry_deliveries"]

        def has_add_permission(self, request: Any) -> bool:
            return False

        def has_change_permission(self, request: Any, obj: Any = None) -> bool:
            return False

        @admin.display(description="body (first 2,000 bytes)")
        def body_preview(self, obj: WebhookDelivery) -> str:
            return bytes(obj.body[:2000]).decode("utf-8", errors="replace")

        @admin.action(description="Retry the selected deliveries (failed or pending)")
        def retry_deliveries(self, request: Any, queryset: Any) -> None:
            from anymail.webhooks.maintenance import retry

            count = retry(queryset)
            self.message_user(
                request, f"{count} webhook deliveries enqueued again.", messages.SUCCESS
            )

    @admin.register(OutboxMessage)
    class OutboxMessageAdmin(admin.ModelAdmin):
        list_display = (
            "id",
            "esp_id",
            "state",
            "attempts",
            "subject",
            "esp_message_id",
            "created_at",
        )
        list_filter = ("state", "esp_id")
        search_fields = ("=anymail_id", "=esp_message_id", "subject")
        date_hierarchy = "created_at"
        exclude = ("message",)
        readonly_fields = (
            "anymail_id",
            "esp_id",
            "backend",
            "mailer",
            "options",
            "subject",
            "recipients",
            "state",
            "attempts",
            "last_error",
            "esp_message_id",
            "recipient_status",
            "created_at",
            "next_attempt_at",
            "lease_until",
            "finished_at",
        )
        actions = ["retry_messages"]

        def has_add_permission(self, request: Any) -> bool:
            return False

        def has_change_permission(self, request: Any, obj: Any = None) -> bool:
            return False

        @admin.action(description="Send the selected messages again (failed, review)")
        def retry_messages(self, request: Any, queryset: Any) -> None:
            from anymail.outbox_maintenance import retry

            count = retry(queryset)
            self.message_user(request, f"{count} messages queued again.", messages.SUCCESS)
