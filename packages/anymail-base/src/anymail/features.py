"""The vocabulary of features, support levels, event types and reject reasons.

Each ESP declares its support once, as a :class:`FeatureSupport`. That single
declaration drives the runtime checks in the base payload (:func:`enforce`), the
conformance suite, the generated feature matrix and ``manage.py anymail_features``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from .exceptions import AnymailUnsupportedFeature

__all__ = [
    "EVENT_TYPES",
    "REJECT_REASONS",
    "EventType",
    "Feature",
    "FeatureSupport",
    "RejectReason",
    "Support",
    "enforce",
    "render_matrix",
]


class Feature(StrEnum):
    """A message feature whose support varies between ESPs."""

    # Anymail send options
    ENVELOPE_SENDER = "envelope_sender"
    METADATA = "metadata"
    MERGE_METADATA = "merge_metadata"
    SEND_AT = "send_at"
    TAGS = "tags"
    TRACK_CLICKS = "track_clicks"
    TRACK_OPENS = "track_opens"
    # Batch sending/merge and ESP templates
    TEMPLATE_ID = "template_id"
    MERGE_DATA = "merge_data"
    MERGE_GLOBAL_DATA = "merge_global_data"
    # Django EmailMessage features whose support varies
    FROM_EMAIL = "from_email"
    REPLY_TO = "reply_to"
    ALTERNATIVES = "alternatives"
    ATTACHMENTS = "attachments"
    INLINE_IMAGES = "inline_images"
    HEADERS = "headers"
    SPOOFED_TO = "spoofed_to"

    @property
    def human_name(self) -> str:
        """How error messages name the feature ("several reply_to addresses")."""
        return _FEATURE_TITLES[self]

    @property
    def group(self) -> str:
        return _FEATURE_GROUPS[self]


_FEATURE_TITLES: Final = {
    Feature.ENVELOPE_SENDER: "envelope_sender",
    Feature.METADATA: "metadata",
    Feature.MERGE_METADATA: "merge_metadata",
    Feature.SEND_AT: "send_at",
    Feature.TAGS: "tags",
    Feature.TRACK_CLICKS: "track_clicks",
    Feature.TRACK_OPENS: "track_opens",
    Feature.TEMPLATE_ID: "template_id",
    Feature.MERGE_DATA: "merge_data",
    Feature.MERGE_GLOBAL_DATA: "merge_global_data",
    Feature.FROM_EMAIL: "several From addresses",
    Feature.REPLY_TO: "several reply_to addresses",
    Feature.ALTERNATIVES: "alternative parts other than text/html",
    Feature.ATTACHMENTS: "attachments",
    Feature.INLINE_IMAGES: "inline images",
    Feature.HEADERS: "extra headers",
    Feature.SPOOFED_TO: "a To header different from the recipients",
}

_FEATURE_GROUPS: Final = {
    **dict.fromkeys(
        [
            Feature.ENVELOPE_SENDER,
            Feature.METADATA,
            Feature.MERGE_METADATA,
            Feature.SEND_AT,
            Feature.TAGS,
            Feature.TRACK_CLICKS,
            Feature.TRACK_OPENS,
        ],
        "Anymail send options",
    ),
    **dict.fromkeys(
        [Feature.TEMPLATE_ID, Feature.MERGE_DATA, Feature.MERGE_GLOBAL_DATA],
        "Batch sending/merge and ESP templates",
    ),
    **dict.fromkeys(
        [
            Feature.FROM_EMAIL,
            Feature.REPLY_TO,
            Feature.ALTERNATIVES,
            Feature.ATTACHMENTS,
            Feature.INLINE_IMAGES,
            Feature.HEADERS,
            Feature.SPOOFED_TO,
        ],
        "Django email features",
    ),
}


class Support(StrEnum):
    """How well an ESP supports a feature."""

    YES = "yes"
    NO = "no"
    #: envelope_sender: the ESP uses only the domain of the address
    DOMAIN_ONLY = "domain_only"
    #: a list-valued feature (tags, reply_to, from_email) with at most one item
    MAX_ONE = "max_one"
    #: Anymail emulates the feature on top of the ESP's API
    EMULATED = "emulated"

    @property
    def label(self) -> str:
        return _SUPPORT_LABELS[self]

    @property
    def sends(self) -> bool:
        """Whether a message using the feature is sent with it (perhaps limited)."""
        return self is not Support.NO


_SUPPORT_LABELS: Final = {
    Support.YES: "Yes",
    Support.NO: "No",
    Support.DOMAIN_ONLY: "Domain only",
    Support.MAX_ONE: "Max 1",
    Support.EMULATED: "(emulated)",
}

_LIST_FEATURES: Final = frozenset({Feature.TAGS, Feature.REPLY_TO, Feature.FROM_EMAIL})


class FeatureSupport(Mapping[Feature, Support]):
    """An ESP's complete, immutable feature declaration.

    Every :class:`Feature` must be declared (there is no default: an ESP author
    decides each one). ``MAX_ONE`` is only valid for tags, reply_to and from_email;
    ``DOMAIN_ONLY`` only for envelope_sender.
    """

    def __init__(self, **levels: Support | str) -> None:
        declared: dict[Feature, Support] = {}
        for name, level in levels.items():
            try:
                feature = Feature(name)
            except ValueError:
                raise ValueError(
                    f"Unknown feature {name!r}; features are {[f.value for f in Feature]}"
                ) from None
            support = Support(level)
            if support is Support.MAX_ONE and feature not in _LIST_FEATURES:
                raise ValueError(
                    f"{feature} can't be declared MAX_ONE (only tags, reply_to, from_email)"
                )
            if support is Support.DOMAIN_ONLY and feature is not Feature.ENVELOPE_SENDER:
                raise ValueError(f"{feature} can't be declared DOMAIN_ONLY (only envelope_sender)")
            declared[feature] = support
        missing = [feature.value for feature in Feature if feature not in declared]
        if missing:
            raise ValueError(f"Feature declaration is missing {missing}")
        self._levels = declared

    def __getitem__(self, feature: Feature | str) -> Support:
        return self._levels[Feature(feature)]

    def __iter__(self) -> Iterator[Feature]:
        return iter(self._levels)

    def __len__(self) -> int:
        return len(self._levels)

    def __repr__(self) -> str:
        levels = ", ".join(
            f"{feature.value}={level.value!r}" for feature, level in self._levels.items()
        )
        return f"FeatureSupport({levels})"

    def replace(self, **levels: Support | str) -> FeatureSupport:
        """A copy with some levels changed."""
        return FeatureSupport(
            **{**{feature.value: level for feature, level in self._levels.items()}, **levels}
        )

    @classmethod
    def all_supported(cls) -> FeatureSupport:
        return cls(**{feature.value: Support.YES for feature in Feature})


# ---------------------------------------------------------------------------
# Runtime enforcement


@dataclass(frozen=True)
class _Rule:
    """How to tell whether a message uses a feature, and how to send it without."""

    used: Callable[[Any], bool]
    drop: Callable[[Any], None]
    count: Callable[[Any], int] | None = None  # list features: how many items
    keep_first: Callable[[Any], None] | None = None


def _attr_set(name: str) -> _Rule:
    return _Rule(
        used=lambda data: getattr(data, name) is not None,
        drop=lambda data: setattr(data, name, None),
    )


def _attr_nonempty(name: str, empty: Callable[[], Any] = lambda: None) -> _Rule:
    return _Rule(
        used=lambda data: bool(getattr(data, name)),
        drop=lambda data: setattr(data, name, empty()),
    )


def _list_attr(name: str) -> _Rule:
    return _Rule(
        used=lambda data: bool(getattr(data, name)),
        drop=lambda data: setattr(data, name, []),
        count=lambda data: len(getattr(data, name) or ()),
        keep_first=lambda data: setattr(data, name, getattr(data, name)[:1]),
    )


_RULES: Final[dict[Feature, _Rule]] = {
    Feature.ENVELOPE_SENDER: _attr_set("envelope_sender"),
    Feature.METADATA: _attr_nonempty("metadata"),
    Feature.MERGE_METADATA: _attr_set("merge_metadata"),
    Feature.SEND_AT: _attr_set("send_at"),
    Feature.TAGS: _list_attr("tags"),
    Feature.TRACK_CLICKS: _attr_set("track_clicks"),
    Feature.TRACK_OPENS: _attr_set("track_opens"),
    Feature.TEMPLATE_ID: _attr_set("template_id"),
    Feature.MERGE_DATA: _attr_set("merge_data"),
    Feature.MERGE_GLOBAL_DATA: _attr_nonempty("merge_global_data"),
    Feature.FROM_EMAIL: _list_attr("from_email"),
    Feature.REPLY_TO: _list_attr("reply_to"),
    Feature.ALTERNATIVES: _attr_nonempty("alternatives", list),
    Feature.ATTACHMENTS: _attr_nonempty("attachments", list),
    Feature.INLINE_IMAGES: _attr_nonempty("inline_attachments", list),
    Feature.HEADERS: _attr_nonempty("headers", dict),
    Feature.SPOOFED_TO: _attr_set("spoofed_to"),
}


def enforce(
    declaration: Mapping[Feature, Support],
    data: Any,
    esp_name: str,
    ignore_unsupported: bool = False,
    **error_context: Any,
) -> list[Feature]:
    """Apply an ESP's feature declaration to normalized message data, in place.

    A feature the ESP doesn't support raises AnymailUnsupportedFeature naming it;
    with ``ignore_unsupported`` it is dropped instead (and a MAX_ONE feature keeps
    its first item). Returns the features that were dropped or truncated.
    """
    degraded: list[Feature] = []
    for feature, rule in _RULES.items():
        support = declaration[feature]
        if not rule.used(data):
            continue
        if support is Support.NO:
            if not ignore_unsupported:
                raise_unsupported(esp_name, feature, **error_context)
            rule.drop(data)
            degraded.append(feature)
        elif support is Support.MAX_ONE and rule.count is not None and rule.count(data) > 1:
            if not ignore_unsupported:
                raise_unsupported(
                    esp_name,
                    feature,
                    detail=f"{esp_name} allows only one ({rule.count(data)} given)",
                    **error_context,
                )
            assert rule.keep_first is not None
            rule.keep_first(data)
            degraded.append(feature)
    return degraded


def raise_unsupported(
    esp_name: str, feature: Feature | str, detail: str | None = None, **context: Any
) -> None:
    """Raise AnymailUnsupportedFeature for ``feature``, with a message saying how to proceed."""
    try:
        title = Feature(feature).human_name
    except ValueError:
        title = str(feature)  # a context-dependent limit described by the ESP's payload
    message = f"{esp_name} does not support {title}"
    if detail:
        message += f": {detail}"
    message += (
        ". (Remove it from the message, or set ANYMAIL['IGNORE_UNSUPPORTED_FEATURES'] = True "
        "to send without it.)"
    )
    raise AnymailUnsupportedFeature(message, feature=str(feature), **context)


# ---------------------------------------------------------------------------
# Events


class EventType(StrEnum):
    """Normalized tracking and inbound event types."""

    QUEUED = "queued"
    SENT = "sent"
    REJECTED = "rejected"
    FAILED = "failed"
    BOUNCED = "bounced"
    DEFERRED = "deferred"
    DELIVERED = "delivered"
    AUTORESPONDED = "autoresponded"
    OPENED = "opened"
    CLICKED = "clicked"
    COMPLAINED = "complained"
    UNSUBSCRIBED = "unsubscribed"
    SUBSCRIBED = "subscribed"
    INBOUND = "inbound"
    INBOUND_FAILED = "inbound_failed"
    UNKNOWN = "unknown"


class RejectReason(StrEnum):
    """Normalized reasons for 'bounced' and 'rejected' events."""

    INVALID = "invalid"
    BOUNCED = "bounced"
    TIMED_OUT = "timed_out"
    BLOCKED = "blocked"
    SPAM = "spam"
    UNSUBSCRIBED = "unsubscribed"
    OTHER = "other"


EVENT_TYPES: Final = frozenset(EventType)
REJECT_REASONS: Final = frozenset(RejectReason)


# ---------------------------------------------------------------------------
# The feature matrix

#: event types shown in the matrix (inbound has its own row)
MATRIX_EVENT_TYPES: Final = [
    e
    for e in EventType
    if e not in (EventType.INBOUND, EventType.INBOUND_FAILED, EventType.UNKNOWN)
]


def render_matrix(esps: Any) -> str:
    """A Markdown table of the ESPs' declared support (``EspDescription`` objects):
    one column per ESP, one row per feature and tracking event type."""
    esps = list(esps)
    blank = ["" for _ in esps]
    table = [["Feature", *[esp.name for esp in esps]]]
    group = None
    for feature in Feature:
        if feature.group != group:
            group = feature.group
            table.append([f"**{group}**", *blank])
        table.append([f"`{feature.value}`", *[esp.features[feature].label for esp in esps]])
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
