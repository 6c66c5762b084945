"""``manage.py anymail_webhooks``: the webhook deliveries kept for background
processing (``ANYMAIL["WEBHOOK_PROCESSING"] = "background"``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "List Anymail's background webhook deliveries by state, retry failed ones, "
        "re-enqueue stalled ones, and prune delivered ones past the retention period."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--pending", action="store_true", help="list pending deliveries")
        parser.add_argument("--failed", action="store_true", help="list failed deliveries")
        parser.add_argument(
            "--retry",
            metavar="ID|all",
            help="retry one delivery (by id), or 'all' failed deliveries",
        )
        parser.add_argument(
            "--recover",
            action="store_true",
            help="re-enqueue deliveries whose worker died or whose task was lost",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete delivered deliveries older than WEBHOOK_RETENTION (default 7 days)",
        )
        parser.add_argument("--limit", type=int, default=50, help="how many to list")

    def handle(self, *args: Any, **options: Any) -> None:
        from anymail.models import WebhookDelivery
        from anymail.webhooks import maintenance as background

        did_something = False
        for state in ("pending", "failed"):
            if options[state]:
                did_something = True
                self.list(WebhookDelivery.objects.filter(state=state), state, options["limit"])
        if options["retry"]:
            did_something = True
            target = options["retry"]
            if target == "all":
                queryset = WebhookDelivery.objects.filter(state=WebhookDelivery.State.FAILED)
            elif target.isdigit():
                queryset = WebhookDelivery.objects.filter(pk=int(target))
                if not queryset.exists():
                    raise CommandError(f"No webhook delivery {target}.")
            else:
                raise CommandError("--retry takes a delivery id or 'all'.")
            count = background.retry(queryset)
            self.stdout.write(f"{count} delivery(ies) enqueued again.")
        if options["recover"]:
            did_something = True
            self.stdout.write(
                f"{background.recover(limit=10_000)} stalled delivery(ies) re-enqueued."
            )
        if options["prune"]:
            did_something = True
            self.stdout.write(f"{background.prune()} delivered delivery(ies) pruned.")
        if not did_something:
            counts = {
                state: WebhookDelivery.objects.filter(state=state).count()
                for state in WebhookDelivery.State.values
            }
            self.stdout.write(", ".join(f"{n} {state}" for state, n in counts.items()))

    def list(self, queryset: Any, state: str, limit: int) -> None:
        rows = list(queryset.order_by("received_at")[:limit])
        if not rows:
            self.stdout.write(f"No deliveries {state}.")
            return
        for delivery in rows:
            error = delivery.last_error.splitlines()[-1][:120] if delivery.last_error else ""
            self.stdout.write(
                f"{delivery.pk}\t{delivery.esp_id}\t{delivery.state}\t"
                f"{delivery.attempts} attempt(s)\treceived {delivery.received_at:%Y-%m-%d %H:%M:%S}"
                f"\tnext {delivery.next_attempt_at:%Y-%m-%d %H:%M:%S}\t{error}"
            )
