"""Query parameters, read one way on every route: each parser takes the raw value and
returns a normalised one, or raises InvalidInput (400) whose message names the parameter.

Normalising matters as much as refusing: equivalent queries (``?limit=050`` and
``?limit=50``, one instant in two offsets or with microseconds) must give one document,
one cache entry and one ETag, so that no client can make the caches grow by rewording.
No Flask here: the WSGI fast paths and the Flask views share these.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from .errors import InvalidInput

#: The highest listing page anyone may ask for (20 posts a page: 20 million posts).
MAX_PAGE = 1_000_000
#: RFC 3339 (``T`` or a space, any case): the fraction is dropped, as times are read to the second.
_RFC3339 = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
                      r"(?:\.[0-9]{1,9})?(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))?")
#: The earliest time a query may name: nothing here is older (the sane window of dates).
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


def _digits(name: str, raw: str, hint: str) -> str:
    """``raw`` if it is ASCII digits (``"²"`` and ``"٣"`` are digits to Python, not to us)."""
    if not raw or len(raw) > 64 or not (raw.isascii() and raw.isdigit()):
        raise InvalidInput(f"{name}: {_shown(raw)} is not {hint}")
    return raw


def _shown(raw: str) -> str:
    """The value as an error message quotes it: at most 40 characters."""
    return repr(raw[:40] + "…") if len(raw) > 40 else repr(raw)


def whole_number(name: str, raw: str, low: int, high: int, *, clamp: bool = False) -> int:
    """Read a whole number from ``low`` to ``high``; above ``high`` is clamped when ``clamp``."""
    hint = f"a whole number from {low} to {high}"
    digits = _digits(name, raw, hint).lstrip("0") or "0"
    # Compared by length first: int() of thousands of digits is slow, then refused.
    value = high + 1 if len(digits) > len(str(high)) else int(digits)
    if value > high and clamp:
        return high
    if not low <= value <= high:
        raise InvalidInput(f"{name}: {_shown(raw)} is not {hint}")
    return value


def page_number(raw: str | None) -> int:
    """Read ``?page=`` (1 when absent). A page past the last one is the view's 404."""
    return 1 if raw is None else whole_number("page", raw, 1, MAX_PAGE)


def date_time(name: str, raw: str) -> datetime:
    """Read an RFC 3339 date-time with an offset, from 1990 on, as UTC to the second."""
    if len(raw) > 6 and raw[-6] == " ":  # "+08:00" sent unencoded: the "+" arrives as a space
        raw = f"{raw[:-6]}+{raw[-5:]}"
    match = _RFC3339.fullmatch(raw)
    if match is None:
        raise InvalidInput(f"{name}: {_shown(raw)} is not an RFC 3339 date-time "
                           "(like 2026-03-09T10:23:24+08:00)")
    *fields, zulu, sign, hours, minutes = match.groups()
    if not (zulu or sign):
        raise InvalidInput(f"{name}: {_shown(raw)} has no time zone offset (add Z or +08:00)")
    try:
        offset = timezone(int(sign + "1") * timedelta(hours=int(hours), minutes=int(minutes))) \
            if sign else UTC
        year, month, day, hour, minute, second = map(int, fields)
        when = datetime(year, month, day, hour, minute, second, tzinfo=offset).astimezone(UTC)
    except ValueError:
        raise InvalidInput(f"{name}: {_shown(raw)} is not a valid date-time") from None
    except OverflowError:  # 0001-01-01T00:00:00+14:00 falls before the year 1 in UTC
        when = None
    if when is None or not EARLIEST <= when < LATEST:
        raise InvalidInput(f"{name}: {_shown(raw)} is outside the years 1990 to 9998")
    return when


def choice(name: str, raw: str, allowed: tuple[str, ...]) -> str:
    """Read a value that must be one of ``allowed``."""
    if raw not in allowed:
        raise InvalidInput(f"{name}: {_shown(raw)} is not one of {', '.join(allowed)}")
    return raw
