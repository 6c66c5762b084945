"""The registry of installed ESPs (DESIGN section 3).

The ESPs here are "installed" only for the test: a temporary directory holding a
``<name>.dist-info`` with an ``anymail.esps`` entry point, put on sys.path."""

import sys
import textwrap
from importlib import metadata

import pytest

from anymail import registry
from anymail.exceptions import AnymailConfigurationError
from anymail.features import EventType, FeatureSupport

MODULES = ("example_esp_description", "example_esp_backend")


@pytest.fixture(autouse=True)
def fresh_registry():
    registry.clear_cache()
    yield
    registry.clear_cache()
    for name in MODULES:
        sys.modules.pop(name, None)


def install_esp(directory, entry_points, distribution="anymail-example"):
    """Write a distribution's metadata and the ESP's modules into ``directory``."""
    dist_info = directory / f"{distribution.replace('-', '_')}-0.1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1.0\n"
    )
    (dist_info / "entry_points.txt").write_text("[anymail.esps]\n" + entry_points)
    (directory / "example_esp_description.py").write_text(
        textwrap.dedent(
            """
            from anymail.features import EventType, FeatureSupport
            from anymail.registry import EspDescription

            esp = EspDescription(
                id="example",
                name="Example",
                distribution="anymail-example",
                backend="example_esp_backend.EmailBackend",
                features=FeatureSupport.all_supported().replace(tags="max_one"),
                event_types=frozenset({EventType.DELIVERED, EventType.BOUNCED}),
                settings=("EXAMPLE_API_KEY",),
            )

            def make_esp():
                return esp

            not_a_description = {"id": "example"}
            """
        )
    )
    (directory / "example_esp_backend.py").write_text(
        "class EmailBackend:\n    esp_name = 'Example'\n"
    )


@pytest.fixture
def example_esp(tmp_path, monkeypatch):
    install_esp(tmp_path, "example = example_esp_description:esp\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_anymail_base_registers_no_esp():
    entry_points = metadata.distribution("anymail-base").entry_points
    assert list(entry_points.select(group=registry.ENTRY_POINT_GROUP)) == []


def test_registry_is_empty_when_no_esp_is_installed(tmp_path, monkeypatch):
    # Only an empty directory on the path: no distribution provides an ESP.
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert registry.installed_esps() == {}
    with pytest.raises(AnymailConfigurationError, match=r"installed: none"):
        registry.get_esp("mailgun")


def test_an_installed_esp_is_listed(example_esp, monkeypatch):
    esps = registry.installed_esps()
    esp = esps["example"]
    assert esp is registry.get_esp("example")
    assert esp.name == "Example"
    assert esp.distribution == "anymail-example"
    assert esp.backend_path == "example_esp_backend.EmailBackend"
    assert esp.features["tags"] == "max_one"
    assert EventType.BOUNCED in esp.event_types
    # Only what was registered: with nothing else on the path, it is the whole registry.
    monkeypatch.setattr(sys, "path", [str(example_esp)])
    registry.clear_cache()
    assert "example" in registry.installed_esps()
    assert "broken" not in registry.installed_esps()


def test_listing_the_registry_does_not_import_the_backend(example_esp):
    esp = registry.get_esp("example")
    assert "example_esp_backend" not in sys.modules
    backend = esp.load_backend()
    assert backend.__name__ == "EmailBackend"
    assert "example_esp_backend" in sys.modules


def test_the_registry_is_cached_until_cleared(tmp_path, monkeypatch):
    assert "example" not in registry.installed_esps()
    install_esp(tmp_path, "example = example_esp_description:esp\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "example" not in registry.installed_esps()
    registry.clear_cache()
    assert "example" in registry.installed_esps()


def test_entry_point_may_name_a_factory(tmp_path, monkeypatch):
    install_esp(tmp_path, "example = example_esp_description:make_esp\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert registry.get_esp("example").name == "Example"


def test_missing_esp_says_how_to_install_it(example_esp):
    with pytest.raises(AnymailConfigurationError) as excinfo:
        registry.get_esp("not_an_esp")
    text = str(excinfo.value)
    assert "installed: " in text
    assert "example" in text.partition("installed: ")[2]
    assert "pip install anymail-not-an-esp" in text


BROKEN_ENTRY_POINTS = [
    ("broken = example_esp_description:esp\n", "describes ESP id 'example'"),
    ("broken = example_esp_description:not_a_description\n", "not an EspDescription"),
    ("broken = no_such_module:esp\n", "failed to load: ModuleNotFoundError"),
]


@pytest.mark.parametrize(("entry_point", "message"), BROKEN_ENTRY_POINTS)
def test_a_broken_entry_point_is_skipped_and_reported(tmp_path, monkeypatch, entry_point, message):
    """One broken ESP package must not break every ESP: it is skipped, get_esp says
    why, and `manage.py check` names it."""
    from django.core import checks

    install_esp(tmp_path, "example = example_esp_description:esp\n" + entry_point)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "example" in registry.installed_esps()
    assert "broken" not in registry.installed_esps()
    [error] = registry.load_errors()
    assert error.name == "broken"
    assert message in error.reason
    with pytest.raises(AnymailConfigurationError, match="installed but") as excinfo:
        registry.get_esp("broken")
    assert message in str(excinfo.value)
    warnings = [w for w in checks.run_checks() if w.id == "anymail.W003"]
    assert len(warnings) == 1
    assert "'broken'" in warnings[0].msg
    assert "anymail-example" in warnings[0].msg


def test_a_broken_entry_point_leaves_other_esps_urls_working(
    tmp_path, monkeypatch, fake_esp_installed, webhook_client, webhook_secret
):
    import importlib

    from django.urls import clear_url_caches, reverse

    import anymail.urls
    import testproject.urls

    install_esp(tmp_path, "broken = no_such_module:esp\n", distribution="anymail-broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_cache()
    importlib.reload(anymail.urls)
    importlib.reload(testproject.urls)
    clear_url_caches()
    try:
        assert "fake" in registry.installed_esps()
        assert [e.name for e in registry.load_errors()] == ["broken"]
        reverse("anymail:fake_tracking_webhook")
        response, signals = webhook_client.post(
            "anymail:fake_tracking_webhook",
            {
                "events": [
                    {"event": "delivered", "ts": 1700000000, "id": "m1", "to": "a@example.com"}
                ]
            },
        )
        assert response.status_code == 200
        assert [s.event.event_type for s in signals] == ["delivered"]
    finally:
        monkeypatch.undo()
        registry.clear_cache()
        importlib.reload(anymail.urls)
        importlib.reload(testproject.urls)
        clear_url_caches()


def test_esp_description_validates_its_id_and_features():
    with pytest.raises(ValueError, match="lowercase"):
        registry.EspDescription(
            id="Amazon-SES",
            name="Amazon SES",
            distribution="anymail-amazon-ses",
            backend="x.EmailBackend",
            features=FeatureSupport.all_supported(),
        )
    with pytest.raises(TypeError, match="FeatureSupport"):
        registry.EspDescription(
            id="example", name="Example", distribution="d", backend="x.EmailBackend", features={}
        )
