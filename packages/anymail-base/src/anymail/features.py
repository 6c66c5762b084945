"""The feature vocabulary: message features and support levels (the event vocabulary,
``EventType`` and ``RejectReason``, is in :mod:`anymail.events`; it stays importable
from here).

Each feature is described once, by a :class:`FeatureSpec` in :data:`FEATURE_SPECS`:
its name, how error messages and the feature matrix title it, which
:class:`~anymail.backends.message_data.MessageData` attribute carries it, how to
tell a message uses it and how to send the message without it, the support levels
an ESP may declare for it, and the payload hook that sends it. Everything else
(enforcement, payload hook defaults, the test backend's ``anymail_send_params``,
the feature matrix, the conformance suite's completeness check) is derived from
that table.

Each ESP declares its support once, as a :class:`FeatureSupport`. A feature the
ESP does not declare (one added to anymail-base after the ESP package was
released) is "not supported" for it: see :mod:`anymail.enforcement`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from typing import Any, Final

from anymail.dates import to_aware_datetime
from anymail.events import EVENT_TYPES as EVENT_TYPES  # re-exported (see __all__)
from anymail.events import REJECT_REASONS as REJECT_REASONS
from anymail.events import EventType as EventType
from anymail.events import RejectReason as RejectReason
from anymail.feature_spec import (
    GROUP_BATCH,
    GROUP_DJANGO,
    GROUP_OPTIONS,
    FeatureSpec,
    Support,
)
from anymail.normalize import json_dict, optional_bool, optional_str, str_list

# (The event vocabulary, EventType and RejectReason, lives in anymail.events; importing
# it from here keeps working. FeatureSpec and Support are defined in
# anymail.feature_spec and documented here.)
__all__ = [
    "FEATURE_SPECS",
    "Feature",
    "FeatureSpec",
    "FeatureSupport",
    "Support",
    "feature_specs",
]


class Feature(StrEnum):
    """A message feature whose support varies between ESPs (see :data:`FEATURE_SPECS`)."""

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
    def spec(self) -> FeatureSpec:
        return FEATURE_SPECS[self.value]

    @property
    def human_name(self) -> str:
        """How error messages name the feature ("extra headers")."""
        return self.spec.title

    @property
    def group(self) -> str:
        return self.spec.group


def _spec(name: str, title: str, group: str, **kwargs: Any) -> FeatureSpec:
    kwargs.setdefault("attribute", name)
    kwargs.setdefault("hook", f"set_{name}")
    return FeatureSpec(name, title, group, **kwargs)


def _list(name: str, title: str, item: str, *, optional: bool, **kwargs: Any) -> FeatureSpec:
    levels = {Support.YES, Support.MAX_ONE} | ({Support.NO} if optional else set())
    return _spec(
        name, title, kwargs.pop("group"), kind="list", levels=frozenset(levels), item=item, **kwargs
    )


#: Every feature, in the feature matrix's order. ESP packages never edit this: a new
#: feature is one record here (plus its MessageData field and conformance case).
FEATURE_SPECS: Final[dict[str, FeatureSpec]] = {
    spec.name: spec
    for spec in (
        _spec(
            "envelope_sender",
            "envelope_sender",
            GROUP_OPTIONS,
            levels=frozenset({Support.YES, Support.NO, Support.DOMAIN_ONLY}),
        ),
        _spec("metadata", "metadata", GROUP_OPTIONS, kind="nonempty",
              normalize=lambda value: json_dict(value, "metadata")),
        _spec("merge_metadata", "merge_metadata", GROUP_OPTIONS,
              normalize=lambda value: json_dict(value, "merge_metadata")),
        _spec("send_at", "send_at", GROUP_OPTIONS,
              normalize=lambda value: None if value is None else to_aware_datetime(value)),
        _list("tags", "tags", "tag", optional=True, group=GROUP_OPTIONS, normalize=str_list),
        _spec("track_clicks", "track_clicks", GROUP_OPTIONS,
              normalize=lambda value: optional_bool(value, "track_clicks")),
        _spec("track_opens", "track_opens", GROUP_OPTIONS,
              normalize=lambda value: optional_bool(value, "track_opens")),
        _spec("template_id", "template_id", GROUP_BATCH, normalize=optional_str),
        _spec("merge_data", "merge_data", GROUP_BATCH,
              normalize=lambda value: json_dict(value, "merge_data")),
        _spec("merge_global_data", "merge_global_data", GROUP_BATCH, kind="nonempty",
              normalize=lambda value: json_dict(value, "merge_global_data")),
        # Every ESP sends one From and one Reply-To: the feature is "several".
        _list("from_email", "several From addresses", "From address", optional=False,
              group=GROUP_DJANGO, hook="set_from_email_list"),
        _list("reply_to", "several reply_to addresses", "reply_to address", optional=False,
              group=GROUP_DJANGO),
        _spec("alternatives", "alternative parts other than text/html", GROUP_DJANGO,
              kind="nonempty", empty=list, hook="add_alternative", each=True),
        _spec("attachments", "attachments", GROUP_DJANGO, kind="nonempty", empty=list,
              hook="add_attachment", each=True),
        _spec("inline_images", "inline images", GROUP_DJANGO, kind="nonempty", empty=list,
              attribute="inline_attachments", hook="add_attachment", each=True),
        _spec("headers", "extra headers", GROUP_DJANGO, kind="nonempty", empty=dict,
              hook="set_extra_headers", send_param="extra_headers"),
        _spec("spoofed_to", "a To header different from the recipients", GROUP_DJANGO),
    )
}  # fmt: skip


def feature_specs() -> Iterator[FeatureSpec]:
    """Every feature anymail-base knows, in order."""
    return iter(list(FEATURE_SPECS.values()))


class FeatureSupport(Mapping[str, Support]):
    """An ESP's immutable feature declaration: ``FeatureSupport(tags="max_one", ...)``.

    An ESP package declares every feature anymail-base knows when it is released
    (the conformance suite checks that). A feature it doesn't declare, because
    anymail-base added it later, is "not supported" (:attr:`FeatureSpec.unsupported_level`)
    rather than an error, so upgrading anymail-base never breaks an installed ESP.
    Each feature accepts only its own levels: ``max_one`` only for list features
    (tags, from_email, reply_to), ``domain_only`` only for envelope_sender, and
    from_email / reply_to only ``yes`` (several) or ``max_one`` (one).
    """

    def __init__(self, **levels: Support | str) -> None:
        declared: dict[str, Support] = {}
        for name, level in levels.items():
            spec = FEATURE_SPECS.get(name)
            if spec is None:
                raise ValueError(f"Unknown feature {name!r}; features are {list(FEATURE_SPECS)}")
            support = Support(level)
            if support not in spec.levels:
                allowed = ", ".join(sorted(level.name for level in spec.levels))
                raise ValueError(
                    f"{name} can't be declared {support.name}: it takes {allowed}"
                    + (f" (one {spec.item}, or several)" if spec.kind == "list" else "")
                )
            declared[name] = support
        self._declared = declared

    def __getitem__(self, feature: object) -> Support:
        name = str(feature)
        if name in self._declared:
            return self._declared[name]
        spec = FEATURE_SPECS.get(name)
        if spec is None:
            raise KeyError(feature)
        return spec.unsupported_level

    def __iter__(self) -> Iterator[str]:
        return iter(list(FEATURE_SPECS))

    def __len__(self) -> int:
        return len(FEATURE_SPECS)

    def __repr__(self) -> str:
        levels = ", ".join(f"{name}={level.value!r}" for name, level in self._declared.items())
        return f"FeatureSupport({levels})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSupport) and self._declared == other._declared

    def __hash__(self) -> int:
        return hash(frozenset(self._declared.items()))

    def declared(self) -> dict[str, Support]:
        """The levels the ESP declared, by feature name."""
        return dict(self._declared)

    def undeclared(self) -> list[str]:
        """Features anymail-base knows that this declaration doesn't mention."""
        return [name for name in FEATURE_SPECS if name not in self._declared]

    def replace(self, **levels: Support | str) -> FeatureSupport:
        """A copy with some levels changed."""
        return FeatureSupport(**{**self._declared, **levels})

    @classmethod
    def all_supported(cls) -> FeatureSupport:
        return cls(**{spec.name: Support.YES for spec in FEATURE_SPECS.values()})
