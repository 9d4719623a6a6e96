"""Pure text helpers: slugs, attribution footers, XML-safe text, sanitising, summaries.

Nothing here knows about Flask or the database. Every regular expression and the
sanitiser are built once at import time, because ingest calls these per post.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

import nh3

from .markup import CENTER_CLASS, OBSOLETE, bound_nesting, normalize
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


# --- URLs from outside ------------------------------------------------------------

WEB_SCHEMES = frozenset({"http", "https"})
#: Longer URLs are dropped: no browser or feed reader needs more, and they bloat every page.
MAX_URL = 4096
# C0 and C1 controls, DEL, whitespace of any kind, lone surrogates: a browser strips or
# skips some of these (a tab inside "java\tscript:"), so a URL holding one is refused.
_URL_REFUSED_RE = re.compile(r"[\x00-\x20\x7f-\x9f\s\ud800-\udfff]")


def joined_web_url(base: str, value: str) -> str | None:
    """Resolve ``value`` against ``base``; the result if it is an absolute http(s) URL."""
    try:
        return web_url(urljoin(base, value))
    except ValueError:  # urljoin refuses some malformed hosts ("http://[::1")
        return None


def web_url(value: object) -> str | None:
    """Return ``value`` when it is an absolute http(s) URL with a host, else None."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_URL or _URL_REFUSED_RE.search(text):
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return text


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
    match = _ATTRIBUTION_RE.match(_plain(footer_inner_html))
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
    "p", "br", "hr", "a", "img", "div", "span", "strong", "em", "b", "i", "u", "abbr",
    "s", "sub", "sup", "small", "blockquote", "ul", "ol", "li", "dl", "dt", "dd",
    "h1", "h2", "h3", "h4", "h5", "h6", "pre", "code", "figure", "figcaption",
    "table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td",
})
_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "width", "height", "title", "loading", "referrerpolicy"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "ol": {"start"},
}
_CLEANER_OPTIONS: dict[str, object] = {
    "tags": set(_TAGS),
    # Content of these is code or a fallback, never article text.
    "clean_content_tags": {"script", "style", "iframe", "object", "embed", "noscript", "template"},
    "attributes": _ATTRIBUTES,
    "allowed_classes": {"p": {"em_media"}, "div": {CENTER_CLASS}},
    "strip_comments": True,
    # target= is stripped, so links cannot open a window that needs rel=noopener.
    "link_rel": None,
    "url_schemes": {"http", "https", "mailto"},
}
_CLEANER = nh3.Cleaner(**_CLEANER_OPTIONS)  # type: ignore[arg-type]

# Ingest cleans once with a wider allowlist, then normalize() works on nh3's tree as it
# serialised it: style stays so that hidden elements (the corpus has spacer paragraphs
# <p style="display:none;height:1px;overflow:hidden;"><br /></p>) can be dropped whole,
# obsolete elements stay so that they can be replaced, and these structural elements stay
# so that a hidden one is seen; normalize() then unwraps them and removes every style.
_UNWRAPPED = frozenset({"section", "article", "header", "footer", "nav", "aside", "main",
                        "address", "label", "mark", "q", "cite", "ins", "del", "kbd", "var"})
_INGEST_CLEANER = nh3.Cleaner(**{  # type: ignore[arg-type]
    **_CLEANER_OPTIONS,
    "tags": set(_TAGS | _UNWRAPPED | OBSOLETE.keys()),
    "attributes": {**_ATTRIBUTES, "acronym": {"title"}, "*": {"style"}},
})


def clean_stored(html: str) -> str:
    """Sanitise a stored body again before a page shows it (rows older than today's rules)."""
    return _clean_xml_safe(html)


def sanitize_html(html: str) -> str:
    """Return article HTML sanitised and normalised, in linear time.

    Scripts, handlers, unsafe URLs and hidden elements are removed; obsolete elements
    become their modern equivalent or are unwrapped; images get ``alt`` (empty when they
    had none), ``loading="lazy"`` and ``referrerpolicy="no-referrer"``.
    """
    if "\r" in html:  # what the HTML parser does first; a run of lone CRs parses slowly
        html = html.replace("\r\n", "\n").replace("\r", "\n")
    clean = normalize(_clean(_INGEST_CLEANER, bound_nesting(xml_safe(html))), drop=_UNWRAPPED)
    safe = xml_safe(clean)
    # Removing a character nh3 kept can join a scheme it did not recognise ("j\x01avascript:"
    # becomes "javascript:"): clean what is left once more, which then has nothing to remove.
    return clean if safe == clean else _clean(_CLEANER, safe)


def _clean_xml_safe(html: str) -> str:
    clean = _clean(_CLEANER, html)
    safe = xml_safe(clean)
    return clean if safe == clean else _clean(_CLEANER, safe)


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
    # Bounded again: a stored body may hold a long run of &amp; that nh3 reads slowly.
    return _clean(_absolutizer(base_url), bound_nesting(html))


# --- plain text --------------------------------------------------------------------

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


def _text_with_breaks(clean: str) -> str:
    """Return the text of sanitised HTML, a line break for each block tag."""
    text = _BLOCK_TAG_RE.sub("\n", clean)
    text = _TAG_RE.sub("", _CELL_TAG_RE.sub(" ", text))
    return _html.unescape(text)


def html_to_text(html: str) -> str:
    """Return the plain text of an HTML fragment, entities unescaped, whitespace collapsed.

    The fragment is sanitised first (its scripts and hidden elements have no text), and
    the text is taken from nh3's serialisation, which the patterns below read linearly.
    """
    return _plain(sanitize_html(html))


def _plain(clean: str) -> str:
    return " ".join(_text_with_breaks(clean).split())


def _head_text(html: str, enough: int) -> str:
    """Return the plain text of ``html``, or of a prefix that gives more than ``enough``."""
    size = _PREFIX_CHARS
    while size < len(html):
        head = html[:size]
        cut = head.rfind("<")
        if head.find(">", cut) == -1:  # do not leave half a tag behind
            head = head[:cut]
        text = _plain(head)
        # The last characters may be half an entity: keep a margin after them.
        if len(text) > enough + 16:
            return text
        size *= 4
    return _plain(html)


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
