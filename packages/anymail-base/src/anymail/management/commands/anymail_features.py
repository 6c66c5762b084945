"""``manage.py anymail_features``: the feature matrix of the installed ESPs."""

from typing import Any

from django.core.management.base import BaseCommand

from anymail.matrix import render_matrix
from anymail.registry import current_esps


class Command(BaseCommand):
    help = "Print which Anymail features each installed ESP supports (a Markdown table)."

    def handle(self, *args: Any, **options: Any) -> None:
        esps = current_esps()
        if not esps:
            self.stdout.write("No Anymail ESP package is installed (pip install anymail-<esp>).")
            return
        self.stdout.write(render_matrix(esps.values()))
