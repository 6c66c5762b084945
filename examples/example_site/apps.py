from django.apps import AppConfig


class ExampleSiteConfig(AppConfig):
    name = "example_site"

    def ready(self) -> None:
        # Connecting the receivers here (not at import time) is Django's advice.
        from example_site import receivers  # noqa: F401
