"""What a feature record says (:class:`FeatureSpec`) and the support levels an ESP may
declare (:class:`Support`). The records themselves, one per feature, are
:data:`anymail.features.FEATURE_SPECS`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Literal

__all__ = ["GROUP_BATCH", "GROUP_DJANGO", "GROUP_OPTIONS", "FeatureSpec", "Kind", "Support"]


class Support(StrEnum):
    """How well an ESP supports a feature."""

    YES = "yes"
    NO = "no"
    #: envelope_sender: the ESP uses only the domain of the address
    DOMAIN_ONLY = "domain_only"
    #: a list feature (tags, from_email, reply_to): one item, not several
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

#: How a feature's MessageData value says "used", and what "dropped" leaves:
#: "optional": used when not None; dropped to None.
#: "nonempty": used when truthy; dropped to ``empty()``.
#: "list": used when non-empty; dropped to []; MAX_ONE keeps the first item.
Kind = Literal["optional", "nonempty", "list"]

GROUP_OPTIONS: Final = "Anymail send options"
GROUP_BATCH: Final = "Batch sending/merge and ESP templates"
GROUP_DJANGO: Final = "Django email features"

_ORDINARY: Final = frozenset({Support.YES, Support.NO, Support.EMULATED})


@dataclass(frozen=True)
class FeatureSpec:
    """Everything Anymail knows about one feature, in one record."""

    name: str
    #: how errors and docs name it: "extra headers", "tags"
    title: str
    group: str
    #: the MessageData attribute that carries it
    attribute: str
    #: the payload method the base payload calls with the value (or each item)
    hook: str
    kind: Kind = "optional"
    #: the support levels an ESP may declare
    levels: frozenset[Support] = _ORDINARY
    #: call ``hook`` once per item instead of once with the whole value
    each: bool = False
    #: list features: one item's name, for "allows only one tag"
    item: str = ""
    #: what a dropped "nonempty" value becomes
    empty: Callable[[], Any] = field(default=lambda: None)
    #: for attributes MessageData reads straight off the message: turns the user's
    #: value into the typed value (raising AnymailSerializationError on bad input)
    normalize: Callable[[Any], Any] | None = None
    #: the key in the test backend's ``anymail_send_params`` (default: ``attribute``)
    send_param: str = ""

    @property
    def unsupported_level(self) -> Support:
        """What an ESP that doesn't declare this feature gets: NO, or for features
        every ESP has at least one of (From, reply_to), MAX_ONE."""
        return Support.NO if Support.NO in self.levels else Support.MAX_ONE

    @property
    def param(self) -> str:
        return self.send_param or self.attribute

    # --- reading and changing a MessageData ---

    def value(self, data: Any) -> Any:
        return getattr(data, self.attribute, None)

    def used(self, data: Any) -> bool:
        value = self.value(data)
        return value is not None if self.kind == "optional" else bool(value)

    def count(self, data: Any) -> int:
        return len(self.value(data) or ())

    def drop(self, data: Any) -> None:
        if self.kind == "list":
            setattr(data, self.attribute, [])
        elif self.kind == "nonempty":
            setattr(data, self.attribute, self.empty())
        else:
            setattr(data, self.attribute, None)

    def keep_first(self, data: Any) -> None:
        setattr(data, self.attribute, list(self.value(data))[:1])
