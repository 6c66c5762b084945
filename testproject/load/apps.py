import os

from django.apps import AppConfig


class LoadConfig(AppConfig):
    """Records every event a webhook signals: one line per event, in a file per worker."""

    name = "testproject.load"
    label = "anymail_load"

    def ready(self):
        from anymail.signals import inbound, tracking

        path = os.path.join(os.environ["ANYMAIL_LOAD_EVENTS"], f"events-{os.getpid()}.txt")

        def record(sender, event, esp_name, **kwargs):
            with open(path, "a", encoding="utf-8") as file:
                file.write(f"{esp_name}\t{event.event_type}\t{event.event_id}\n")

        tracking.connect(record, weak=False, dispatch_uid="anymail-load-tracking")
        inbound.connect(record, weak=False, dispatch_uid="anymail-load-inbound")
