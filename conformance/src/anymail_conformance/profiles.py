"""Finding each installed ESP's conformance profile, through entry points.

An ESP package ships its profile (and its webhook fixtures beside it) and
registers it in the ``anymail_conformance.profiles`` entry-point group, named by
the ESP's id::

    [project.entry-points."anymail_conformance.profiles"]
    mailgun = "anymail.conformance.mailgun.profile:PROFILE"

So the suite runs the same for a package in this repository and for one installed
from anywhere else.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import metadata
from typing import Final

from anymail.registry import EspDescription, installed_esps
from anymail_conformance.profile import Profile

__all__ = [
    "PROFILE_GROUP",
    "EspUnderTest",
    "esps_under_test",
    "esps_without_profile",
    "load_profile",
]

PROFILE_GROUP: Final = "anymail_conformance.profiles"


@dataclass(frozen=True)
class EspUnderTest:
    esp: EspDescription
    profile: Profile

    @property
    def id(self) -> str:
        return self.esp.id


@functools.cache
def _profile_entry_points() -> dict[str, metadata.EntryPoint]:
    return {ep.name: ep for ep in metadata.entry_points(group=PROFILE_GROUP)}


def load_profile(esp_id: str) -> Profile:
    """The profile registered for ``esp_id`` (KeyError if there is none)."""
    entry_point = _profile_entry_points()[esp_id]
    profile = entry_point.load()
    if isinstance(profile, type) and issubclass(profile, Profile):
        profile = profile()
    if not isinstance(profile, Profile):
        raise TypeError(
            f"The conformance profile entry point {esp_id!r} ({entry_point.value}) must point "
            "at an instance of anymail_conformance.Profile"
        )
    if profile.esp_id != esp_id:
        raise ValueError(
            f"The conformance profile {entry_point.value} is for {profile.esp_id!r}, "
            f"but is registered as {esp_id!r}"
        )
    return profile


@functools.cache
def esps_under_test() -> tuple[EspUnderTest, ...]:
    """Every installed ESP that has a profile, sorted by id."""
    profiles = _profile_entry_points()
    return tuple(
        EspUnderTest(esp, load_profile(esp.id))
        for esp in installed_esps().values()
        if esp.id in profiles
    )


def esps_without_profile() -> list[str]:
    profiles = _profile_entry_points()
    return [esp_id for esp_id in installed_esps() if esp_id not in profiles]
