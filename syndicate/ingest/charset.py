"""Decode upstream bodies by their declared charset, so GBK and GB18030 upstreams come out right.

Order of authority: a byte order mark, then the HTTP ``charset``, then (for XML) the
encoding in the XML declaration, then UTF-8. GB2312 and GBK are decoded as GB18030, their
superset: upstreams that say gb2312 routinely send GBK-only characters.
"""

from __future__ import annotations

import codecs
import re

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF32_LE, "utf-32"),
         (codecs.BOM_UTF32_BE, "utf-32"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030", "cp936": "gb18030", "euc_cn": "gb18030",
              "ascii": "utf-8", "iso8859-1": "cp1252"}
_XML_DECL_RE = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"'][^>]*\?>")
_XML_DECL_TEXT_RE = re.compile(r"^\s*<\?xml[^>]*\?>")


def codec_name(charset: str | None) -> str | None:
    """Return Python's codec for a charset label (GB2312/GBK: GB18030), or None if unknown."""
    if not charset:
        return None
    try:
        name = codecs.lookup(charset.strip().strip("\"'")).name
    except LookupError:
        return None
    return _SUPERSETS.get(name, name)


def xml_encoding(data: bytes) -> str | None:
    """Return the encoding an XML declaration names, if any."""
    match = _XML_DECL_RE.match(data[:200])
    return match.group(1).decode("ascii") if match else None


def decode(data: bytes, charset: str | None, *, xml: bool = False) -> str:
    """Decode a body; undecodable bytes become U+FFFD only when no candidate fits."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom):].decode(name, errors="replace")
    candidates = [codec_name(charset)]
    if xml:
        candidates.append(codec_name(xml_encoding(data)))
    candidates += ["utf-8", "gb18030"]
    for name in dict.fromkeys(c for c in candidates if c):
        try:
            return data.decode(name)
        except UnicodeDecodeError:
            continue
    first = next(c for c in candidates if c)
    return data.decode(first, errors="replace")


def xml_as_utf8(data: bytes, charset: str | None) -> bytes:
    """Return an XML document re-encoded as UTF-8 with its declaration saying so."""
    text = decode(data, charset, xml=True)
    declaration = _XML_DECL_TEXT_RE.match(text)
    if declaration is not None:
        text = text[declaration.end():]
    return ('<?xml version="1.0" encoding="utf-8"?>' + text).encode("utf-8")
