"""``manage.py anymail_outbox``: messages sent in the background (the backend option
``background``): list them by state, retry failed ones, prune sent ones."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "List Anymail's background sends by state, retry failed (or review) ones, and "
        "prune sent ones past the retention period."
    )

    def add_arguments(self, parser: Any) -> None:
        for state in ("queued", "failed", "review"):
            parser.add_argument(f"--{state}", action="store_true", help=f"list {state} messages")
        parser.add_argument(
            "--retry", metavar="ID|all", help="retry one message (by id), or 'all' failed ones"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete sent messages older than SEND_RETENTION (default 7 days)",
        )
        parser.add_argument("--limit", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        from anymail import outbox_maintenance as outbox
        from anymail.models import OutboxMessage

        did_something = False
        for state in ("queued", "failed", "review"):
            if options[state]:
                did_something = True
                rows = list(
                    OutboxMessage.objects.filter(state=state).order_by("created_at")[
                        : options["limit"]
                    ]
                )
                if not rows:
                    self.stdout.write(f"No messages {state}.")
                for row in rows:
                    error = row.last_error.splitlines()[-1][:120] if row.last_error else ""
                    self.stdout.write(
                        f"{row.pk}\t{row.anymail_id}\t{row.esp_id}\t{row.state}\t"
                        f"{row.attempts} attempt(s)\t{row.subject[:40]!r}\t{error}"
                    )
        if options["retry"]:
            did_something = True
            target = options["retry"]
            if target == "all":
                queryset = OutboxMessage.objects.filter(state=OutboxMessage.State.FAILED)
            elif target.isdigit():
                queryset = OutboxMessage.objects.filter(pk=int(target))
                if not queryset.exists():
                    raise CommandError(f"No outbox message {target}.")
            else:
                raise CommandError("--retry takes a message id or 'all'.")
            self.stdout.write(f"{outbox.retry(queryset)} message(s) queued again.")
        if options["prune"]:
            did_something = True
            self.stdout.write(f"{outbox.prune()} sent message(s) pruned.")
        if not did_something:
            counts = {
                state: OutboxMessage.objects.filter(state=state).count()
                for state in OutboxMessage.State.values
            }
            self.stdout.write(", ".join(f"{n} {state}" for state, n in counts.items()))
