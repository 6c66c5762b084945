import os
import time
from pathlib import Path

from django.apps import AppConfig


class WorkerConfig(AppConfig):
    """For the real-worker tests: records every event a task signals (one line per
    event, in a file per process); a receiver for "slow@..." recipients blocks while
    the marker file exists, so a test can kill the worker in the middle of it."""

    name = "testproject.worker"
    label = "anymail_worker_test"

    def ready(self):
        from anymail.signals import inbound, tracking

        events = Path(os.environ["ANYMAIL_WORKER_EVENTS"])
        slow_marker = events / "slow"

        def record(sender, event, esp_name, **kwargs):
            if str(getattr(event, "recipient", "")).startswith("slow@") and slow_marker.exists():
                (events / f"started-{os.getpid()}").write_text(str(event.event_id))
                while slow_marker.exists():
                    time.sleep(0.05)
            with open(events / f"events-{os.getpid()}.txt", "a", encoding="utf-8") as file:
                file.write(f"{esp_name}\t{event.event_id}\t{time.time()}\n")

        tracking.connect(record, weak=False, dispatch_uid="anymail-worker-tracking")
        inbound.connect(record, weak=False, dispatch_uid="anymail-worker-inbound")
