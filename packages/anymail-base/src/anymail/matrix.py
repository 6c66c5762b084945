"""The feature matrix: a Markdown table of what each ESP declares.

Generated from the declarations, never typed by hand; ``manage.py anymail_features``
prints it for the installed ESPs, and the repository's README carries a copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from anymail.events import EventType
from anymail.features import feature_specs

__all__ = ["MATRIX_EVENT_TYPES", "render_matrix"]

#: event types shown in the matrix (inbound has its own row)
MATRIX_EVENT_TYPES: Final = [
    e
    for e in EventType
    if e not in (EventType.INBOUND, EventType.INBOUND_FAILED, EventType.UNKNOWN)
]


def render_matrix(esps: Iterable[Any]) -> str:
    """One column per ESP (``EspDescription`` objects), one row per feature and
    tracking event type, and a row for inbound."""
    esps = list(esps)
    blank = ["" for _ in esps]
    table = [["Feature", *[esp.name for esp in esps]]]
    group = None
    for spec in feature_specs():
        if spec.group != group:
            group = spec.group
            table.append([f"**{group}**", *blank])
        table.append([f"`{spec.name}`", *[esp.features[spec.name].label for esp in esps]])
    table.append(["**Tracking webhook event types**", *blank])
    for event_type in MATRIX_EVENT_TYPES:
        table.append(
            [
                f"`{event_type.value}`",
                *["Yes" if event_type in esp.event_types else "" for esp in esps],
            ]
        )
    table.append(["**Inbound webhook**", *["Yes" if esp.inbound else "No" for esp in esps]])
    lines = ["| " + " | ".join(row) + " |" for row in table]
    lines.insert(1, "|" + "---|" * len(table[0]))
    return "\n".join(lines)
