"""Finding each installed ESP's conformance profile and webhook fixtures.

The registry says which ESPs are installed and which distribution provides each;
the profile lives in that distribution's folder of this repository:
``packages/<distribution>/conformance/profile.py`` (``PROFILE = ...``) with
fixtures in ``.../conformance/fixtures/*.json``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anymail.registry import EspDescription, installed_esps

from .profile import Profile

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES_DIR = REPO_ROOT / "packages"


@dataclass(frozen=True)
class EspUnderTest:
    esp: EspDescription
    profile: Profile

    @property
    def id(self) -> str:
        return self.esp.id


def profile_path(esp: EspDescription) -> Path:
    return PACKAGES_DIR / esp.distribution / "conformance" / "profile.py"


def load_profile(esp: EspDescription) -> Profile:
    path = profile_path(esp)
    spec = importlib.util.spec_from_file_location(f"conformance_profile_{esp.id}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"Can't load the {esp.name} conformance profile from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # so inspect can find the profile's own folder
    spec.loader.exec_module(module)
    profile = getattr(module, "PROFILE", None)
    if not isinstance(profile, Profile):
        raise TypeError(f"{path} must define PROFILE, an instance of conformance.profile.Profile")
    if profile.esp_id != esp.id:
        raise ValueError(f"{path}: PROFILE.esp_id is {profile.esp_id!r}, expected {esp.id!r}")
    return profile


@functools.cache
def esps_under_test() -> tuple[EspUnderTest, ...]:
    """Every installed ESP that has a profile, sorted by id."""
    return tuple(
        EspUnderTest(esp, load_profile(esp))
        for esp in installed_esps().values()
        if profile_path(esp).exists()
    )


def esps_without_profile() -> list[str]:
    return [esp.id for esp in installed_esps().values() if not profile_path(esp).exists()]


@dataclass(frozen=True)
class Fixture:
    name: str
    path: Path
    data: dict[str, Any]

    @property
    def webhook(self) -> str:
        return self.data["webhook"]


def load_fixtures(profile: Profile) -> list[Fixture]:
    fixtures = []
    for path in sorted(profile.fixtures_dir.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for key in ("webhook", "request", "expected_events"):
            if key not in data:
                raise ValueError(f"Fixture {path} has no {key!r}")
        fixtures.append(Fixture(path.stem, path, data))
    return fixtures
