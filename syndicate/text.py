"""Pure text helpers: slugs, attribution footers, XML-safe text, sanitising, summaries.

Nothing here knows about Flask or the database. Every regular expression and the
sanitiser are built once at import time, because ingest calls these per post.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata
from functools import lru_cache

import nh3

from .memo import memoize

# --- slugs -------------------------------------------------------------------------

_NON_SLUG_RE = re.compile(r"[^a-z0-9]+")


def _ascii_slug(text: str) -> str:
    return _NON_SLUG_RE.sub("-", text.lower()).strip("-")


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@memoize(max_entries=4096, max_bytes=2 * 2**20)
def slugify_name(name: str) -> str:
    """Return the toneless pinyin slug of a media name, syllables joined as the old site did.

    ``中国电子报`` gives ``zhongguodianzibao``. ASCII letters and digits are kept (lowercased);
    any other run of characters becomes one ``-``. The result may be empty.
    """
    # Imported here: pypinyin loads its dictionaries on import (~0.2 s), and only
    # category creation needs it, not every process that imports this module.
    from pypinyin import Style, lazy_pinyin

    text = unicodedata.normalize("NFKC", name)
    syllables = lazy_pinyin(text, style=Style.NORMAL, errors="default")
    return _ascii_slug(_fold_accents("".join(syllables)))


@memoize(max_entries=4096, max_bytes=2 * 2**20)  # keyed by request paths too
def normalize_slug(slug: str) -> str:
    """Return a legacy category slug in the ``[a-z0-9-]`` form (``TechWeb`` -> ``techweb``).

    Raise ValueError when nothing usable remains.
    """
    result = _ascii_slug(slug) if slug.isascii() else slugify_name(slug)
    if not result:
        raise ValueError(f"category slug {slug!r} has no letters or digits to keep")
    return result


# --- XML-safe text -----------------------------------------------------------------

# C0 controls except tab, LF and CR; the two non-characters; lone surrogates.
_XML_ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def xml_safe(text: str) -> str:
    """Remove the characters XML 1.0 forbids."""
    return _XML_ILLEGAL_RE.sub("", text)


# --- attribution -------------------------------------------------------------------

_NEWS_SUFFIX = "新闻"

#: The footer paragraph, whatever its other attributes; a <p> cannot nest in a <p>,
#: so the lazy match ends at the footer's own closing tag.
_FOOTER_RE = re.compile(
    r"<p\b[^>]*?\bclass\s*=\s*[\"']?[^\"'>]*\bem_media\b[^>]*>(.*?)</p\s*>", re.DOTALL | re.IGNORECASE
)
_ATTRIBUTION_RE = re.compile(r"^[（(]?\s*文章来源\s*[：:]\s*(.*?)\s*[）)]?$")


def media_from_tag(tag: str) -> str | None:
    """Return the media a ``<media>新闻`` tag names (one 新闻 removed), or None."""
    tag = tag.strip()
    if len(tag) <= len(_NEWS_SUFFIX) or not tag.endswith(_NEWS_SUFFIX):
        return None
    return tag[: -len(_NEWS_SUFFIX)].strip() or None


def _attribution(footer_inner_html: str) -> str | None:
    match = _ATTRIBUTION_RE.match(html_to_text(footer_inner_html))
    return (match.group(1) or None) if match else None


def parse_attribution(html: str) -> str | None:
    """Return the media name of the last ``em_media`` footer, read as text, or None."""
    for match in reversed(list(_FOOTER_RE.finditer(html))):
        media = _attribution(match.group(1))
        if media:
            return media
    return None


def footer_html(media: str) -> str:
    """Return the canonical attribution footer for a media name."""
    return f'<p class="em_media">（文章来源：{_html.escape(media, quote=False)}）</p>'


def ensure_footer(html: str, media: str | None) -> str:
    """Put exactly one canonical attribution footer at the end of the body.

    An existing footer wins over ``media`` and is rewritten in the canonical form (a
    simple footer stays byte-identical); without a footer, one is appended for ``media``.
    """
    matches = list(_FOOTER_RE.finditer(html))
    if not matches:
        if not media:
            return html
        body = html.rstrip()
        return f"{body}\n{footer_html(media)}" if body else footer_html(media)
    found = next(filter(None, (_attribution(m.group(1)) for m in reversed(matches))), None)
    name = found or media
    if not name:
        return html
    last = matches[-1]
    if len(matches) == 1 and not html[last.end():].strip():
        return html[: last.start()] + footer_html(name)
    rest = _FOOTER_RE.sub("", html).rstrip()
    return f"{rest}\n{footer_html(name)}" if rest else footer_html(name)


# --- sanitising --------------------------------------------------------------------

_TAGS = frozenset({
    "p", "br", "hr", "a", "img", "center", "div", "span", "strong", "em", "b", "i", "u",
    "s", "sub", "sup", "small", "blockquote", "ul", "ol", "li", "dl", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "code", "figure", "figcaption",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
})
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
_CLEANER_OPTIONS: dict[str, object] = {
    "tags": set(_TAGS),
    # Content of these is code or a fallback, never article text.
    "clean_content_tags": {"script", "style", "iframe", "object", "embed", "noscript", "template"},
    "attributes": _ATTRIBUTES,
    "allowed_classes": {"p": {"em_media"}},
    "strip_comments": True,
    # target= is stripped, so links cannot open a window that needs rel=noopener.
    "link_rel": None,
    "url_schemes": {"http", "https", "mailto"},
}
_CLEANER = nh3.Cleaner(**_CLEANER_OPTIONS)  # type: ignore[arg-type]

# Elements hidden with an inline display:none (the corpus has spacer paragraphs such as
# <p style="display:none;height:1px;overflow:hidden;"><br /></p>). A regex and string
# search are enough because this runs before the real sanitiser and only decides what to
# drop: an element is removed only when its opening tag holds the style and its closing
# tag comes before any nested element of the same name; anything less clear is left to
# nh3, which strips the style, so the worst case is a harmless element shown.
_DISPLAY_NONE_RE = re.compile(r"display\s*:\s*none")  # a literal prefix: a fast scan
_DISPLAY_NONE_ANY_CASE_RE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_HIDDEN_STYLE_RE = re.compile(
    r"\sstyle\s*=\s*(?:\"[^\"]*?display\s*:\s*none[^\"]*\"|'[^']*?display\s*:\s*none[^']*')",
    re.IGNORECASE,
)
_TAG_NAME_RE = re.compile(r"<([a-z][a-z0-9]*)\b", re.IGNORECASE)
_VOID_TAGS = frozenset({"img", "br", "hr", "input", "wbr", "source", "area", "col", "embed"})


@memoize(max_entries=64, max_bytes=2**20)  # names come from upstream markup
def _element_bounds(name: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    return re.compile(rf"<{name}\b", re.IGNORECASE), re.compile(rf"</{name}\s*>", re.IGNORECASE)


def _hidden_span(html: str, hint: re.Match[str]) -> tuple[int, int] | None:
    """Return where the element whose style holds this display:none starts and ends."""
    start = html.rfind("<", 0, hint.start())
    open_end = html.find(">", hint.end())
    tag = _TAG_NAME_RE.match(html, start) if start >= 0 and open_end >= 0 else None
    if tag is None or html.find(">", start, hint.start()) != -1:
        return None  # the text is not inside an opening tag
    if not _HIDDEN_STYLE_RE.search(html, start, open_end + 1):
        return None  # inside a tag, but not in its style attribute
    name = tag.group(1).lower()
    if name in _VOID_TAGS:
        return start, open_end + 1
    opener, closer = _element_bounds(name)
    close = closer.search(html, open_end)
    if close is None or opener.search(html, open_end, close.start()):
        return None
    return start, close.end()


def _drop_hidden(html: str) -> str:
    hints = _DISPLAY_NONE_RE
    if "DISPLAY" in html or "Display" in html:
        hints = _DISPLAY_NONE_ANY_CASE_RE
    elif "display" not in html:
        return html
    parts: list[str] = []
    kept = 0
    for hint in hints.finditer(html):
        span = _hidden_span(html, hint) if hint.start() >= kept else None
        if span is not None:
            parts.append(html[kept : span[0]])
            kept = span[1]
    if not parts:
        return html
    parts.append(html[kept:])
    return "".join(parts)


def sanitize_html(html: str) -> str:
    """Return article HTML with scripts, handlers, unsafe URLs and hidden elements removed."""
    return xml_safe(_clean(_CLEANER, _drop_hidden(html)))


def _clean(cleaner: nh3.Cleaner, html: str) -> str:
    try:
        clean = cleaner.clean(html)
    except UnicodeEncodeError:  # lone surrogates cannot cross into nh3 (Rust strings)
        clean = cleaner.clean(xml_safe(html))
    # nh3 leaves class="" where it removed every class; only <p> may carry one, and a
    # literal "<p" in text is escaped, so this replace touches markup only.
    return clean.replace('<p class="">', "<p>")


@lru_cache(maxsize=64)
def _absolutizer(base_url: str) -> nh3.Cleaner:
    options = {**_CLEANER_OPTIONS, "url_relative": ("rewrite_with_base", base_url)}
    return nh3.Cleaner(**options)  # type: ignore[arg-type]


#: A URL attribute that is not absolute yet, in nh3's serialisation (double quotes).
_RELATIVE_URL_RE = re.compile(r'\s(?:href|src)="(?!https?://|mailto:)', re.IGNORECASE)


def absolutize(html: str, base_url: str) -> str:
    """Make relative and protocol-relative href/src URLs absolute against ``base_url``.

    ``html`` is sanitize_html output. Most stored bodies link only to absolute URLs; those
    are returned as they are, since cleaning clean HTML again changes nothing but costs
    a full parse per entry on every feed render.
    """
    if not _RELATIVE_URL_RE.search(html):
        return html
    return _clean(_absolutizer(base_url), html)


# --- plain text --------------------------------------------------------------------

_CODE_RE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.DOTALL | re.IGNORECASE)
#: The rest of a tag after its name: attributes (quoted values may hold > or <) and >.
_TAG_REST = r"""\b(?:[^<>"']++|"[^"]*+"|'[^']*+')*+>"""
# Case-sensitive on purpose: re.I makes this alternation four times slower, and the HTML
# it reads is nh3's output, whose tag names are lowercase. An uppercase block tag from
# elsewhere is still removed below, only without a line break.
_BLOCK_TAG_RE = re.compile(
    r"</?(?:p|div|br|hr|li|ul|ol|dl|dt|dd|h[1-6]|blockquote|pre|center|table|caption|tr"
    r"|figure|figcaption|section|article|header|footer)" + _TAG_REST
)
_CELL_TAG_RE = re.compile(r"</?t[dh]" + _TAG_REST)
_TAG_RE = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*" + _TAG_REST)
_SENTENCE_END_RE = re.compile(r"[。！？!?；;]|\.(?=\s)")
_FIRST_SENTENCE_RE = re.compile(r".*?[。！？!?]")
_TRAILING_WEAK_RE = re.compile(r"[\s，、,：:；;（(“\"‘'《<—-]+$")
ELLIPSIS = "…"
#: Summaries read the HTML in growing prefixes: a long body (10 KB and more) need not
#: be converted whole for 160 characters.
_PREFIX_CHARS = 1024


def _text_with_breaks(html: str) -> str:
    text = _CODE_RE.sub("", html)
    text = _BLOCK_TAG_RE.sub("\n", text)
    text = _TAG_RE.sub("", _CELL_TAG_RE.sub(" ", text))
    return _html.unescape(text)


def html_to_text(html: str) -> str:
    """Return the plain text of an HTML fragment, entities unescaped, whitespace collapsed."""
    return " ".join(_text_with_breaks(html).split())


def _head_text(html: str, enough: int) -> str:
    """Return the plain text of ``html``, or of a prefix that gives more than ``enough``."""
    size = _PREFIX_CHARS
    while size < len(html):
        head = html[:size]
        cut = head.rfind("<")
        if head.find(">", cut) == -1:  # do not leave half a tag behind
            head = head[:cut]
        text = html_to_text(head)
        # The last characters may be half an entity: keep a margin after them.
        if len(text) > enough + 16:
            return text
        size *= 4
    return html_to_text(html)


def _lines(html: str) -> list[str]:
    lines = (" ".join(line.split()) for line in _text_with_breaks(html).split("\n"))
    return [line for line in lines if line]


def _shorten(text: str, limit: int) -> str:
    """Cut text to at most ``limit`` characters, ending in … when anything was cut."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    ends = [m.end() for m in _SENTENCE_END_RE.finditer(head)]
    if ends and ends[-1] >= limit // 2:
        return head[: ends[-1]] + ELLIPSIS
    if head[-1:].isascii() and head[-1:].isalnum() and text[limit - 1 : limit].isalnum():
        space = head.rfind(" ")
        if space >= limit // 2:
            head = head[:space]
    return _TRAILING_WEAK_RE.sub("", head) + ELLIPSIS


def summarize(html: str, limit: int = 160) -> str:
    """Return a plain-text summary of the body without its attribution footer."""
    return _shorten(_head_text(_FOOTER_RE.sub("", html), limit), limit)


def derive_title(html: str, limit: int = 60) -> str:
    """Return the body's first sentence (or first line) as a title, at most ``limit`` characters."""
    for line in _lines(_FOOTER_RE.sub("", html)):
        match = _FIRST_SENTENCE_RE.match(line)
        return _shorten(match.group(0) if match else line, limit)
    return ""
