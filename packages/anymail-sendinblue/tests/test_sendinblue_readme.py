"""The README says what this package keeps working, and its migration snippets
configure Brevo's backend as written, without a deprecation warning. (The conformance
suite's test_readme.py checks what every README shows: that the snippets configure
the backend they name, the 6.1 one first, and that no user doc needs the test extra.)"""

import re
import warnings

import pytest

from anymail.backends.brevo import EmailBackend
from anymail.backends.brevo import _warned as warned
from anymail.esps.sendinblue import ESP
from anymail.exceptions import AnymailDeprecationWarning
from anymail.registry import import_string
from anymail_conformance.package_checks import Readme, emptied

README = Readme.of(ESP.distribution)


@pytest.fixture(autouse=True)
def _fresh_deprecation_warnings():
    with emptied(warned):
        yield


def test_the_migration_snippets_configure_brevos_backend_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error", AnymailDeprecationWarning)
        connection = README.configured_connection("anymail.backends.brevo.EmailBackend")
    assert type(connection) is EmailBackend
    assert connection.api_key == "<your v3 API key>"


def test_every_old_name_in_the_table_still_exists():
    table = README.text.split("| old name (still works) |")[1].split("\n\n")[0]
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
