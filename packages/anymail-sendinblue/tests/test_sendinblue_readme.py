"""The README says what this package keeps working, and its migration snippets
configure Brevo's backend as written."""

import re
import warnings
from pathlib import Path

import pytest
from django.test import override_settings

from anymail.backends.brevo import EmailBackend
from anymail.backends.brevo import _warned as warned
from anymail.exceptions import AnymailDeprecationWarning
from anymail.registry import import_string
from anymail.testing import MAILERS_SUPPORTED, get_connection

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
def _fresh_deprecation_warnings():
    warned.clear()
    yield
    warned.clear()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


def block_with(language, text):
    [block] = [block for block in blocks(language) if text in block]
    return block


def test_the_migration_snippets_configure_brevos_backend_without_a_warning():
    text = "# settings.py (Django 6.1+)" if MAILERS_SUPPORTED else "# settings.py (Django 5.2"
    namespace = {}
    exec(re.sub(r"(?m)^   ", "", block_with("python", text)), namespace)  # noqa: S102
    mailer = {key: namespace[key] for key in ("MAILERS", "EMAIL_BACKEND") if key in namespace}
    with (
        override_settings(**mailer, ANYMAIL=namespace.get("ANYMAIL", {})),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error", AnymailDeprecationWarning)
        connection = get_connection()
    assert type(connection) is EmailBackend
    assert connection.api_key == "<your v3 API key>"


def test_every_old_name_in_the_table_still_exists():
    table = README.split("| old name (still works) |")[1].split("\n\n")[0]
    old = re.findall(r"`(anymail\.(?:backends|webhooks)\.sendinblue\.\w+)`", table)
    assert "anymail.backends.sendinblue.EmailBackend" in old
    assert "anymail.webhooks.sendinblue.SendinBlueTrackingWebhookView" in old
    with pytest.warns(AnymailDeprecationWarning) as caught:
        found = [import_string(path) for path in old]
    assert all(found)
    # The modules' other names warn as they are used; the backend and view, when used.
    assert [str(w.message).split(" is deprecated")[0] for w in caught] == [
        "SendinBlue is now Brevo: anymail.backends.sendinblue.SendinBluePayload",
        "SendinBlue is now Brevo: anymail.webhooks.sendinblue.tracking_events",
    ]
    new = re.findall(r"`(anymail\.(?:backends|webhooks)\.brevo\.\w+)`", table)
    for path in new:
        assert import_string(path) is not None


def test_user_docs_need_no_test_extra():
    assert "[test]" not in README
    assert "anymail_conformance" not in README
