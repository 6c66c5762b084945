"""Each ESP's description is complete and agrees with its code."""

from __future__ import annotations

import importlib
import warnings

import pytest
from django.urls import clear_url_caches

from anymail.exceptions import AnymailUnsupportedFeature, AnymailWarning
from anymail.features import FEATURE_SPECS
from anymail.testing import feature_added_later
from anymail_conformance.cases import CASES, base_message
from anymail_conformance.fixtures import load_fixtures, post_fixture, webhook_settings

# Signed webhooks' tokens go to the default replay store: the test database.
pytestmark = pytest.mark.django_db


def test_every_feature_has_a_conformance_case():
    # A feature added to anymail-base needs a case here before ESPs can prove it.
    assert set(FEATURE_SPECS) <= set(CASES), sorted(set(FEATURE_SPECS) - set(CASES))


def test_declaration_decides_every_feature(esp):
    """At runtime an undeclared feature is "not supported" (so a newer anymail-base
    can't break an installed ESP), but a released package decides every feature."""
    undeclared = esp.esp.features.undeclared()
    assert not undeclared, f"{esp.id} doesn't declare {undeclared}: add them to its FeatureSupport"


def test_payload_implements_every_supported_feature(esp):
    backend = esp.esp.load_backend()
    payload_classes = backend.payload_classes()
    assert payload_classes, f"{backend.__name__} must set payload_class"
    missing = [
        f"{spec.name} ({spec.hook})"
        for spec in FEATURE_SPECS.values()
        if esp.esp.features[spec.name].sends
        and not any(payload_class.implements(spec) for payload_class in payload_classes)
    ]
    assert not missing, (
        f"{backend.__name__}'s payloads don't implement the hooks of features {esp.id} "
        f"declares supported: {missing}"
    )


def test_backend_and_views_point_at_the_description(esp):
    backend = esp.esp.load_backend()
    assert backend.esp == esp.esp, f"{backend.__name__}.esp must be {esp.id}'s EspDescription"
    assert backend.features == esp.esp.features
    for route in esp.esp.webhooks:
        view = esp.esp.load_view(route)
        assert view.esp == esp.esp, f"{view.__name__}.esp must be {esp.id}'s EspDescription"


def test_profile_points_at_the_description(esp):
    assert esp.profile.esp == esp.esp


def test_a_feature_added_to_base_later_breaks_nothing(esp, api, settings):
    """anymail-base gains a feature this ESP's package doesn't declare: URLs,
    sending and webhooks keep working, and the new feature is "not supported"."""
    import anymail.urls

    profile = esp.profile
    with feature_added_later("future_option"):
        importlib.reload(anymail.urls)  # builds its routes as at startup
        clear_url_caches()

        with pytest.warns(AnymailWarning, match="future_option"):
            assert base_message(profile).send() == 1
        message = base_message(profile)
        message.future_option = "on"
        before = profile.request_count(api)
        with pytest.raises(AnymailUnsupportedFeature) as raised:
            message.send()
        assert raised.value.feature == "future_option"
        assert profile.request_count(api) == before

        settings.ANYMAIL = {**settings.ANYMAIL, "IGNORE_UNSUPPORTED_FEATURES": True}
        message = base_message(profile)
        message.future_option = "on"
        with warnings.catch_warnings():
            warnings.simplefilter("error", AnymailWarning)  # warned once, not per message
            assert message.send() == 1

        fixture = next(
            f for f in load_fixtures(profile) if f.expected_status == 200 and f.expected_events
        )
        settings.ANYMAIL = webhook_settings(profile)
        response, signals = post_fixture(profile, fixture)
        assert response.status_code == 200, response.content
        assert len(signals) == len(fixture.expected_events)
    importlib.reload(anymail.urls)
    clear_url_caches()
