from pathlib import Path

from django.apps import AppConfig


class AnymailConfig(AppConfig):
    """The "anymail" app.

    ``anymail`` is a PEP 420 namespace package spread over every installed Anymail
    wheel, so it has no single directory: ``path`` names anymail-base's.
    """

    name = "anymail"
    label = "anymail"
    verbose_name = "Anymail"
    default = True
    default_auto_field = "django.db.models.BigAutoField"
    path = str(Path(__file__).resolve().parent)

    def ready(self) -> None:
        from anymail import checks  # noqa: F401 (registers the system checks)
