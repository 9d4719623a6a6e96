"""Share codes: minting and validating them. The only module that imports shortuuid.

A code is derived from the article key (uuid5 encoded by shortuuid), so rebuilding the
database from the same posts gives every post the same short link again. On the rare
collision the store asks for a longer code.
"""

from __future__ import annotations

import re
import uuid

import shortuuid

CODE_LENGTH = 8
MAX_CODE_LENGTH = 22
_NAMESPACE = uuid.UUID("6f6b1f0e-5c1a-4f7e-9a51-7e0b6f1e2d43")
_SHORT = shortuuid.ShortUUID()
CODE_RE = re.compile(
    f"^[{re.escape(_SHORT.get_alphabet())}]{{{CODE_LENGTH},{MAX_CODE_LENGTH}}}$"
)


def mint_code(key: str, length: int = CODE_LENGTH) -> str:
    """Return the share code of an article key, ``length`` characters long."""
    if not CODE_LENGTH <= length <= MAX_CODE_LENGTH:
        raise ValueError(f"share code length must be {CODE_LENGTH}..{MAX_CODE_LENGTH}")
    # The last digits of the encoding are the uniformly distributed ones.
    return _SHORT.encode(uuid.uuid5(_NAMESPACE, key))[-length:]


def is_valid_code(code: str) -> bool:
    """Tell whether ``code`` could be a share code (alphabet and length)."""
    return bool(CODE_RE.match(code))


def url_regex() -> str:
    """The pattern a URL converter uses to accept only well-formed codes."""
    return CODE_RE.pattern[1:-1]
