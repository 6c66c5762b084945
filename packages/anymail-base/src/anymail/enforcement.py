"""Applying an ESP's feature declaration to a message, generically.

The base payload calls :func:`enforce` before any ESP code sees the message, so an
ESP package never repeats "does this ESP support tags?" checks by hand: a feature
declared NO raises :class:`~anymail.exceptions.AnymailUnsupportedFeature` (or, with
``IGNORE_UNSUPPORTED_FEATURES``, is dropped), and a MAX_ONE list feature with
several items raises (or keeps its first item).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from anymail.exceptions import AnymailUnsupportedFeature, AnymailWarning
from anymail.features import FEATURE_SPECS, FeatureSupport, Support, feature_specs

__all__ = ["enforce", "raise_unsupported", "warn_undeclared"]

_warned: set[tuple[str, str]] = set()


def warn_undeclared(esp_name: str, declaration: Mapping[str, Support]) -> None:
    """Warn once per ESP and feature about features the declaration doesn't mention
    (anymail-base is newer than the ESP package): they are treated as unsupported."""
    if not isinstance(declaration, FeatureSupport):
        return
    new = [name for name in declaration.undeclared() if (esp_name, name) not in _warned]
    if not new:
        return
    _warned.update((esp_name, name) for name in new)
    warnings.warn(
        f"{esp_name}'s Anymail package doesn't declare the feature(s) {', '.join(new)} "
        "(added to anymail-base after it was released), so Anymail treats them as not "
        f"supported by {esp_name}. Upgrade the {esp_name} package to use them.",
        AnymailWarning,
        stacklevel=3,
    )


def enforce(
    declaration: Mapping[str, Support],
    data: Any,
    esp_name: str,
    ignore_unsupported: bool = False,
    **error_context: Any,
) -> list[str]:
    """Apply an ESP's feature declaration to normalized message data, in place.

    Returns the names of the features that were dropped or cut to one item.
    """
    warn_undeclared(esp_name, declaration)
    degraded: list[str] = []
    for spec in feature_specs():
        if not spec.used(data):
            continue
        support = declaration[spec.name]
        if support is Support.NO:
            if not ignore_unsupported:
                raise_unsupported(esp_name, spec.name, **error_context)
            spec.drop(data)
            degraded.append(spec.name)
        elif support is Support.MAX_ONE and spec.kind == "list" and spec.count(data) > 1:
            if not ignore_unsupported:
                raise_unsupported(
                    esp_name,
                    spec.name,
                    detail=f"{esp_name} allows only one {spec.item} ({spec.count(data)} given)",
                    **error_context,
                )
            spec.keep_first(data)
            degraded.append(spec.name)
    return degraded


def raise_unsupported(
    esp_name: str, feature: str, detail: str | None = None, **context: Any
) -> None:
    """Raise AnymailUnsupportedFeature for ``feature`` (a feature name, or for a
    context-dependent limit a phrase), with a message saying how to proceed."""
    spec = FEATURE_SPECS.get(str(feature))
    title = spec.title if spec else str(feature)
    message = f"{esp_name} does not support {title}"
    if detail:
        message += f": {detail}"
    message += (
        ". (Remove it from the message, or set ANYMAIL['IGNORE_UNSUPPORTED_FEATURES'] = True "
        "to send without it.)"
    )
    raise AnymailUnsupportedFeature(message, feature=str(feature), **context)
