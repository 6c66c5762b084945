"""Dates and times: ``send_at`` values to aware datetimes, and the forms ESP APIs take."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from django.utils import timezone

from anymail.exceptions import AnymailSerializationError

__all__ = ["rfc2822date", "timestamp", "to_aware_datetime"]


def to_aware_datetime(value: Any, field: str = "send_at") -> datetime:
    """Convert a send_at-style value to an aware datetime.

    A date means midnight, and a naive datetime is interpreted, in Django's
    current timezone; int/float are POSIX timestamps.
    """
    if isinstance(value, datetime):
        if timezone.is_naive(value):
            return timezone.make_aware(value, timezone.get_current_timezone())
        return value
    if isinstance(value, date):
        return timezone.make_aware(
            datetime.combine(value, time.min), timezone.get_current_timezone()
        )
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    raise AnymailSerializationError(
        f"Can't convert {field}={value!r} ({type(value).__name__}) to a date and time: "
        "use a datetime, date, or POSIX timestamp.",
        field=field,
    )


def rfc2822date(dt: datetime) -> str:
    """An RFC 2822 date string (for example 'Mon, 15 Jan 2024 10:00:00 +0000')."""
    from email.utils import format_datetime

    return format_datetime(dt)


def timestamp(dt: datetime) -> int:
    return int(dt.timestamp())
