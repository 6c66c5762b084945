"""Reading Anymail's settings: the ``ANYMAIL`` dict, ``ANYMAIL_<NAME>`` settings and
backend options, plus the helpers every setting reader shares (the UNSET sentinel,
"a string or a list of strings", lazy-string resolution, send-defaults merging)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from django.conf import settings
from django.utils.encoding import force_str
from django.utils.functional import Promise

from anymail.exceptions import AnymailConfigurationError

__all__ = [
    "UNSET",
    "force_non_lazy",
    "get_anymail_setting",
    "merge_with_default",
    "setting_name",
    "string_list",
]


class _Unset:
    """Sentinel for "not given" (``None`` is a meaningful value: it drops a send default)."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


# ---------------------------------------------------------------------------
# Settings


def get_anymail_setting(
    name: str,
    default: Any = UNSET,
    esp_name: str | None = None,
    kwargs: dict[str, Any] | None = None,
    allow_bare: bool = False,
) -> Any:
    """Return an Anymail setting, looking (in order) in:

    1. ``kwargs[name]`` (popped, so backends can pass their leftover kwargs on),
    2. ``settings.ANYMAIL["<ESP>_<NAME>"]``,
    3. ``settings.ANYMAIL_<ESP>_<NAME>``,
    4. ``settings.<ESP>_<NAME>`` (only if ``allow_bare``: for keys shared with other apps).

    ``name`` is the lowercase kwarg name (``"api_key"``); ``esp_name`` is the ESP's
    setting prefix (``"mailgun"``, ``"amazon_ses"``) or None for general settings.
    Raises AnymailConfigurationError, naming every place the setting could be given,
    if it is missing and no default was supplied.
    """
    setting = setting_name(name, esp_name)
    if _readers:
        for reader in _readers:
            reader(setting)
    if kwargs is not None and name in kwargs:
        return kwargs.pop(name)

    anymail_settings = getattr(settings, "ANYMAIL", None) or {}
    if not isinstance(anymail_settings, Mapping):
        raise AnymailConfigurationError("The ANYMAIL setting must be a dict.")
    if setting in anymail_settings:
        return anymail_settings[setting]

    prefixed = f"ANYMAIL_{setting}"
    if hasattr(settings, prefixed):
        return getattr(settings, prefixed)

    if allow_bare and hasattr(settings, setting):
        return getattr(settings, setting)

    if default is UNSET:
        places = [f'ANYMAIL = {{"{setting}": ...}}', prefixed]
        if allow_bare:
            places.append(setting)
        message = (
            f"You must set {setting} in your Django settings, as "
            + " or ".join(f"{place}" for place in places)
            + (
                f', or as the option "{name}" of the backend: a MAILERS alias\'s '
                f'"OPTIONS" (Django 6.1+) or get_connection({name}=...)'
                if esp_name
                else ""
            )
            + "."
        )
        raise AnymailConfigurationError(message)
    return default


def setting_name(name: str, esp_name: str | None = None) -> str:
    """The setting's key in ``ANYMAIL``: ``setting_name("api_key", "mailgun")`` is
    ``"MAILGUN_API_KEY"``."""
    return f"{esp_name}_{name}".upper() if esp_name else name.upper()


#: Callbacks told the name of every setting read (see :func:`record_setting_reads`).
_readers: list[Callable[[str], None]] = []


class record_setting_reads:
    """Collect the name of every Anymail setting read inside the ``with`` block (the
    conformance suite compares them with the settings an ESP declares)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __enter__(self) -> set[str]:
        _readers.append(self.names.add)
        return self.names

    def __exit__(self, *exc: object) -> None:
        _readers.remove(self.names.add)


def string_list(value: Any, setting: str, what: str = "a string") -> list[str]:
    """A setting that takes one string or a list of them (several secrets or keys, so
    one can be rotated): the non-empty strings, as a list. AnymailConfigurationError
    naming ``setting`` for anything else."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return [item for item in value if item]
    raise AnymailConfigurationError(f"{setting} must be {what} or a list of them.")


# ---------------------------------------------------------------------------
# Lazy strings


#: values force_non_lazy returns as they are, found by their exact type (the common case)
_NOT_LAZY: Final = frozenset({str, bytes, int, float, bool, type(None)})


def force_non_lazy(value: Any) -> Any:
    """Resolve lazy translation strings (gettext_lazy) to str, recursively in containers."""
    if type(value) in _NOT_LAZY:
        return value
    if isinstance(value, Promise):
        return force_str(value)
    if isinstance(value, dict):
        return {force_non_lazy(key): force_non_lazy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [force_non_lazy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(force_non_lazy(item) for item in value)
    return value


# ---------------------------------------------------------------------------
# Send defaults


def merge_with_default(default: Any, value: Any) -> Any:
    """Combine a message attribute with its send default, as the docs describe.

    Lists are concatenated (default first), dicts merged (the message's keys win),
    ``None`` on the message drops the default, anything else replaces it.
    """
    if value is UNSET:
        return default
    if value is None or default is UNSET or default is None:
        return value
    if isinstance(default, Mapping) and isinstance(value, Mapping):
        return {**default, **value}
    if (
        isinstance(default, Sequence | set)
        and isinstance(value, Sequence | set)
        and not isinstance(default, str | bytes)
        and not isinstance(value, str | bytes)
    ):
        return [*default, *value]
    return value
