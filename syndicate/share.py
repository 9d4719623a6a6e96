"""Share codes: minting, normalising and validating them. The only module that imports
shortuuid.

A code is random (``ShortUUID(alphabet=ALPHABET).random(length=CODE_LENGTH)``), minted once
when a post is first stored, unique in the database and never given to another article,
even after its post is deleted. The alphabet is lowercase and has no look-alikes: digits
and letters without ``i``, ``l``, ``o`` and ``u``, so a code read off paper and typed with
``O`` for ``0`` or ``I``/``l`` for ``1`` still resolves (see ``normalize_code``).

Guessing: 32**12 = 2**60 codes. With a million posts, a random guess hits one with a
chance of about 1 in 10**12; a scanner sending 10,000 requests a second would need three
years for a single hit.
"""

from __future__ import annotations

import re
import secrets

import shortuuid

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
CODE_LENGTH = 12
_CODE_BITS = 5 * CODE_LENGTH
_MINT = shortuuid.ShortUUID(alphabet=ALPHABET)
CODE_RE = re.compile(f"[{ALPHABET}]{{{CODE_LENGTH}}}")
#: What people typing a code from paper confuse with the alphabet's characters.
_TYPOS = str.maketrans({"o": "0", "i": "1", "l": "1"})
#: What pasting or typing adds after a link: a slash, spaces, ASCII and CJK punctuation.
_TRAILING = "/\\ \t\r\n.,;:!?)]}>'\"`*_~" "。，、；：！？）】》」』〉”’…·　"
_LEADING = " \t\r\n(<[{'\"`“‘（【《「『〈"
MAX_RAW_LENGTH = 64

assert _MINT.get_alphabet() == ALPHABET, "shortuuid must keep the alphabet as given"


def mint_code() -> str:
    """Return a new random share code (the store checks that it is free)."""
    # One 60-bit draw, not shortuuid's random(): its twelve secrets.choice calls read
    # /dev/urandom twice each, a sixth of a bulk import's writing time. The alphabet has
    # 32 letters, so each 5 bits pick one uniformly, as shortuuid does.
    bits = secrets.randbits(_CODE_BITS)
    return "".join(ALPHABET[(bits >> shift) & 31] for shift in range(0, _CODE_BITS, 5))


def strip_pasted(raw: str) -> str:
    """Drop what pasting or typing adds around a link's code: spaces, brackets and
    quotes before it, a slash and ASCII or CJK punctuation after it."""
    return raw.strip(_LEADING).rstrip(_TRAILING)


def normalize_code(raw: str) -> str | None:
    """Return the code a pasted or typed ``raw`` means, or None if it cannot be one.

    Case is ignored, typed look-alikes (``O``, ``I``, ``l``) are read as the digits they
    look like, and what pasting adds around a link (a trailing ``/``, ``。``, ``）``, ``.``
    and the like) is dropped.
    """
    if len(raw) > MAX_RAW_LENGTH:
        return None
    text = strip_pasted(raw).lower().translate(_TYPOS)
    return text if CODE_RE.fullmatch(text) else None


def is_valid_code(code: str) -> bool:
    """Tell whether ``code`` is a well-formed share code, exactly as minted."""
    return CODE_RE.fullmatch(code) is not None
