"""Small helpers, and the names django-anymail's ``anymail.utils`` offered.

Each idea has its own module now: :mod:`anymail.settings`, :mod:`anymail.addresses`,
:mod:`anymail.attachments`, :mod:`anymail.dates` and :mod:`anymail.mime`. Their
public names stay importable from here for code written against ``anymail.utils``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from anymail.addresses import EmailAddress, addr_spec_of, parse_address_list, parse_single_address
from anymail.attachments import Attachment
from anymail.dates import rfc2822date, timestamp, to_aware_datetime
from anymail.mime import mime_attachment, mime_bytes
from anymail.settings import UNSET, force_non_lazy, get_anymail_setting, merge_with_default

__all__ = [
    "UNSET",
    "Attachment",
    "EmailAddress",
    "addr_spec_of",
    "describe_type",
    "first_or_none",
    "force_non_lazy",
    "get_anymail_setting",
    "merge_with_default",
    "mime_attachment",
    "mime_bytes",
    "parse_address_list",
    "parse_single_address",
    "rfc2822date",
    "timestamp",
    "to_aware_datetime",
]


def first_or_none(values: Iterable[Any]) -> Any:
    for value in values:
        return value
    return None


def describe_type(value: Any) -> str:
    return type(value).__name__
