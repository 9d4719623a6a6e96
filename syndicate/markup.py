"""Linear-time HTML passes around the sanitiser: bound nesting before it, normalise after it.

nh3 (ammonia on html5ever) builds a full HTML5 tree, and the tree builder walks the stack
of open elements and the list of active formatting elements for many tags: a body nested
thousands deep, or thousands of unclosed ``<b title=N>``, costs quadratic time (a 100 KB
body took 34 s); so do a tag with thousands of attributes and a text run of thousands of
``&``. :func:`bound_nesting` reads the raw markup once, as the HTML tokenizer does,
estimates the depth html5ever will reach from above, removes start tags beyond a fixed
depth (their content stays), splits long runs of references, and drops early what nh3
drops anyway (comments, script and style content). Short, shallow bodies (nearly every
article) are returned untouched.

The sanitiser's own output is canonical (lowercase names, double-quoted values, every
``<`` in text escaped, no comments), so :func:`normalize` can rewrite it with one regular
scan: hidden elements dropped, obsolete presentational elements replaced or unwrapped,
images given ``alt``/``loading``/``referrerpolicy``, style attributes removed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import NamedTuple

#: Deepest nesting let through to the sanitiser. Articles nest a few levels; browsers
#: stop at a few hundred (Blink 512, libxml2 256).
MAX_DEPTH = 256
#: Most unclosed formatting elements let through: html5ever reopens every one of them
#: in each new block, so they cost more than depth alone.
MAX_FORMATTING = 32
#: Most attributes one tag may carry; html5ever checks each new one against the others.
MAX_ATTRIBUTES = 256

# --- the raw tokenizer (HTML Living Standard, 13.2.5, tag and comment boundaries) --------

_OPEN_RE = re.compile(r"<(?:(/?)([A-Za-z][^\t\n\f\r />]*+)|(!--)|[!?]|/)")
_ATTRIBUTES_RE = re.compile(
    r"""(?:[\t\n\f\r /]++
         |[^\t\n\f\r />][^\t\n\f\r />=]*+
          (?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:"[^"]*+"|'[^']*+'|[^\t\n\f\r >]++)?+)?+
        )*+>""",
    re.VERBOSE,
)
_ATTRIBUTE_NAME_RE = re.compile(r"[\t\n\f\r /]++(?!>)")
_COMMENT_END_RE = re.compile(r"--!?>")
#: Elements whose content the tokenizer reads as text up to their end tag, and nh3
#: removes: bound_nesting removes that content first, whatever it does with the tag.
_RAW_TEXT = frozenset({"script", "style", "iframe"})
#: Start tags removed before parsing. The content of the first six is text to html5ever
#: but would be markup to a later pass if the tag went for depth; without them it is
#: markup to both, and sanitised. In a select html5ever ignores most tags, so its text
#: could not be split. nh3 never keeps any of them.
_DROPPED = frozenset({"xmp", "noembed", "noframes", "textarea", "title", "plaintext", "select"})
#: html5ever appends each character reference (and each "<" that starts no tag) to its
#: text node in a way that costs quadratic time in their number: text runs are split
#: after this many.
MAX_REFERENCES = 64
_BREAKS_RE = re.compile("[&<]")
#: Markup this short, with few tags and references, cannot make the sanitiser slow: its
#: one tag with the most attributes is what remains, a few thousand at most.
_SHORT = 8192
#: A void element nh3 drops: it ends a text node and leaves nothing behind.
_TEXT_BREAK = "<wbr>"
_VOID = frozenset({"area", "base", "basefont", "bgsound", "br", "col", "embed", "frame",
                   "hr", "image", "img", "input", "keygen", "link", "meta", "param",
                   "source", "track", "wbr"})
#: Formatting elements html5ever reopens after a block closes them (active formatting list).
_FORMATTING = frozenset({"a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small",
                         "strike", "strong", "tt", "u"})
#: Elements an end tag pops through on its way to its own (not "special" in the spec).
_PHRASING = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn", "em",
    "font", "i", "ins", "kbd", "label", "mark", "nobr", "q", "s", "samp", "small", "span",
    "strike", "strong", "sub", "sup", "time", "tt", "u", "var",
})
#: Elements closed implicitly by the end tag of an element around them.
_IMPLIED = frozenset({"p", "li", "dd", "dt", "option", "optgroup", "rb", "rp", "rt", "rtc"})
_SPECIAL_THROUGH = _PHRASING | _IMPLIED
#: Start tags that close an open <p>, and the start tags that close their own kind.
_CLOSES_P = frozenset({
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div",
    "dl", "fieldset", "figcaption", "figure", "footer", "header", "hgroup", "main", "menu",
    "nav", "ol", "p", "section", "summary", "ul", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
    "listing", "hr", "xmp",
})
_CLOSES_OWN = frozenset({"li", "dd", "dt", "option"})
_PHRASING_OR_P = _PHRASING | {"p"}
#: How far below the top an end tag looks for its element; further means "ignored",
#: which over-estimates the depth: the safe direction.
_REACH = 8


@lru_cache(maxsize=16)
def _raw_end_re(name: str) -> re.Pattern[str]:
    return re.compile(rf"</{name}[\t\n\f\r />]", re.IGNORECASE)


class _Depth:
    """An upper estimate of html5ever's open elements, kept in O(1) amortised per tag."""

    __slots__ = ("formatting", "reopen", "stack")

    def __init__(self) -> None:
        self.stack: list[str] = []
        #: Formatting start tags not yet ended, by name then identity (name + attributes);
        #: html5ever reopens at most three of one identity (the "Noah's Ark" clause).
        self.formatting: dict[str, list[str]] = {}
        self.reopen: dict[str, int] = {}

    def depth(self) -> int:
        return len(self.stack) + self.reopened()

    def reopened(self) -> int:
        """How many formatting elements html5ever may reopen (at most 3 of one identity)."""
        return sum(min(3, n) for n in self.reopen.values())

    def start(self, name: str, identity: str) -> None:
        if name in _CLOSES_P:
            self._pop_to("p", _PHRASING)
        if name in _CLOSES_OWN:
            self._pop_to(name, _PHRASING_OR_P)
        self.stack.append(name)
        if name in _FORMATTING:
            self.formatting.setdefault(name, []).append(identity)
            self.reopen[identity] = self.reopen.get(identity, 0) + 1

    def end(self, name: str) -> None:
        opened = self.formatting.get(name)
        if opened:
            identity = opened.pop()
            self.reopen[identity] -= 1
            if not self.reopen[identity]:
                del self.reopen[identity]
        self._pop_to(name, _PHRASING if name in _PHRASING else _SPECIAL_THROUGH)

    def _pop_to(self, name: str, through: frozenset[str]) -> None:
        stack = self.stack
        for index in range(len(stack) - 1, max(-1, len(stack) - 1 - _REACH), -1):
            if stack[index] == name:
                del stack[index:]
                return
            if stack[index] not in through:
                return


class _Tag(NamedTuple):
    start: int
    end: int
    name: str
    attributes: str
    closing: bool
    #: The text after this tag, up to the next token, is raw text (no character references).
    raw_after: bool
    #: Where that raw text ends.
    raw_end: int = -1


def _tokens(html: str) -> Iterator[_Tag]:
    """Yield the tags html5ever's tokenizer would see, and as nameless tags what it drops:
    comments, doctypes, processing instructions and a tag cut off by the end."""
    pos = 0
    foreign = 0  # <svg>/<math> seen open: their <style> and <title> hold markup
    while (at := html.find("<", pos)) >= 0:
        # str.find, then match: re's search does not skip ahead to a "<" in wide strings.
        found = _OPEN_RE.match(html, at)
        if found is None:
            pos = at + 1
            continue
        pos = found.end()
        if found.group(2) is None:
            end = _skip_markup_declaration(html, found)
            if end is None:  # "</" at the very end is text
                return
            yield _Tag(at, len(html) if end < 0 else end, "", "", True, False)
            if end < 0:
                return
            pos = end
            continue
        rest = _ATTRIBUTES_RE.match(html, pos)
        if rest is None:  # the tag runs to the end: html5ever drops it
            yield _Tag(found.start(), len(html), "", "", True, False)
            return
        name, closing = found.group(2).lower(), bool(found.group(1))
        pos = rest.end()
        if name in ("svg", "math"):
            foreign += -1 if closing else 1
        raw_end = _raw_text_end(html, name, pos) if not closing and foreign <= 0 else None
        yield _Tag(found.start(), pos, name, html[found.end() : pos], closing,
                   raw_end is not None, -1 if raw_end is None else raw_end)
        if raw_end is not None:
            pos = raw_end


def _raw_text_end(html: str, name: str, pos: int) -> int | None:
    """Where the raw text after a start tag ``name`` ends, or None when it is not raw text."""
    if name not in _RAW_TEXT:
        return None
    end = _raw_end_re(name).search(html, pos)
    return len(html) if end is None else end.start()


def _breaks(html: str, start: int, end: int) -> int:
    return html.count("&", start, end) + html.count("<", start, end)


def _skip_markup_declaration(html: str, found: re.Match[str]) -> int | None:
    """Return where a comment, doctype, processing instruction or bogus end tag ends.

    -1: it runs to the end; None: it is text after all.
    """
    pos = found.end()
    if found.group(3):  # <!--
        if html.startswith(">", pos) or html.startswith("->", pos):
            return html.index(">", pos) + 1  # <!--> and <!---> are empty comments
        close = _COMMENT_END_RE.search(html, pos)
        return -1 if close is None else close.end()
    if found.group(0) == "</":
        if pos >= len(html):
            return None
        if html[pos] == ">":
            return pos + 1
    end = html.find(">", pos)
    return -1 if end < 0 else end + 1


def _too_many_attributes(attributes: str) -> bool:
    if attributes.count("&") > MAX_REFERENCES * 16:
        return True
    if len(attributes) < 2 * MAX_ATTRIBUTES:
        return False
    # An attribute starts after a separator or right after a quoted value.
    quoted = attributes.count('"') // 2 + attributes.count("'") // 2
    separated = sum(1 for _ in _ATTRIBUTE_NAME_RE.finditer(attributes))
    return separated + quoted > MAX_ATTRIBUTES


class _Bounder:
    """One pass over raw markup, collecting the edits bound_nesting makes."""

    def __init__(self, html: str, limit: int) -> None:
        self.html = html
        self.limit = limit
        self.depth = _Depth()
        self.parts: list[str] = []
        self.kept = 0

    def run(self) -> str:
        html = self.html
        text_start = 0
        raw = False
        for tag in _tokens(html):
            if not raw:
                self.split_text(text_start, tag.start)
            self.tag(tag)
            text_start, raw = tag.end, tag.raw_after
        if not raw:
            self.split_text(text_start, len(html))
        if not self.parts:
            return html
        self.parts.append(html[self.kept :])
        return "".join(self.parts)

    def cut(self, start: int, end: int, insert: str = "") -> None:
        self.parts += (self.html[self.kept : start], insert)
        self.kept = end

    def tag(self, tag: _Tag) -> None:
        if not tag.name:
            self.cut(tag.start, tag.end)  # html5ever drops it too (comments: nh3 does)
        elif tag.closing:
            self.depth.end(tag.name)
        elif (tag.name in _DROPPED or _too_many_attributes(tag.attributes)
              or self.too_deep(tag)):
            self.cut(tag.start, tag.end)
        elif tag.name not in _VOID and not tag.attributes.endswith("/>"):
            self.depth.start(tag.name, tag.name + tag.attributes)
        if tag.raw_after:
            self.cut(tag.end, tag.raw_end)  # script or style: nh3 drops it all the same

    def too_deep(self, tag: _Tag) -> bool:
        if tag.name in _VOID:
            return False
        if tag.name in _FORMATTING and self.depth.reopened() >= MAX_FORMATTING:
            return True
        return self.depth.depth() >= self.limit

    def split_text(self, start: int, end: int) -> None:
        """Split a text run holding many references or bare "<" into several text nodes."""
        if _breaks(self.html, start, end) <= MAX_REFERENCES:
            return
        for seen, found in enumerate(_BREAKS_RE.finditer(self.html, start, end), start=1):
            if seen % MAX_REFERENCES == 0:
                at = found.start()
                self.cut(at, at, _TEXT_BREAK)


def bound_nesting(html: str, limit: int = MAX_DEPTH) -> str:
    """Prepare raw markup for the sanitiser so that it parses in linear time.

    Start tags nested deeper than ``limit``, tags with absurd attribute counts and the
    few elements listed in ``_DROPPED`` are removed (their content is kept), comments
    and script and style content are removed, and long runs of character references
    are split into several text nodes. Markup that cannot trip the sanitiser
    (few tags and references: nearly every article) is returned as it is.
    """
    if (len(html) <= _SHORT and html.count("<") - html.count("</") <= limit
            and html.count("&") <= MAX_REFERENCES):
        return html
    return _Bounder(html, limit).run()


# --- normalising the sanitiser's output ---------------------------------------------------

#: A tag as the sanitiser serialises it: ``<name attr="value">``, values never hold ``"``.
_CANONICAL_TAG_RE = re.compile(r'<(/?)([a-z][a-z0-9]*+)((?: [^\s"=/>]++(?:="[^"]*+")?+)*+)>')
_ATTRIBUTE_RE = re.compile(r' ([^\s"=/>]++)(?:="([^"]*+)")?+')
_HIDDEN_RE = re.compile(r"display\s*:\s*none", re.IGNORECASE)
#: The class a centred block gets (the site stylesheet centres it).
CENTER_CLASS = "align-center"
#: Obsolete element -> (the element replacing it, its class); None unwraps it (content kept).
#: Never <xmp>, <noembed>, <noframes> or <plaintext>: their content is raw text, which
#: html5ever serialises unescaped, so renaming one would turn its text into markup.
OBSOLETE: dict[str, tuple[str, str | None] | None] = {
    "center": ("div", CENTER_CLASS), "strike": ("s", None), "tt": ("code", None),
    "acronym": ("abbr", None), "dir": ("ul", None), "listing": ("pre", None), "font": None, "big": None, "basefont": None, "marquee": None,
    "blink": None, "nobr": None, "spacer": None, "multicol": None,
}
#: Attributes an obsolete element passes on to its replacement.
_PASSED_ON = frozenset({"title"})
#: What every image gets: hotlink-protected upstream images load without our Referer.
_IMAGE_SET = (("loading", "lazy"), ("referrerpolicy", "no-referrer"))
_IMAGE_DROP = frozenset({"style", "loading", "referrerpolicy"})


def _attributes(text: str) -> list[tuple[str, str | None]]:
    return [(m.group(1), m.group(2)) for m in _ATTRIBUTE_RE.finditer(text)]


def _serialize(name: str, attributes: list[tuple[str, str | None]]) -> str:
    rendered = "".join(f' {key}="{value}"' if value is not None else f" {key}"
                       for key, value in attributes)
    return f"<{name}{rendered}>"


def _start_tag(name: str, text: str, attributes: str) -> str:
    """Rewrite one start tag: obsolete names replaced, style dropped, image defaults added."""
    if name in OBSOLETE:
        replacement = OBSOLETE[name]
        if replacement is None:
            return ""
        new_name, css_class = replacement
        pairs = [(k, v) for k, v in _attributes(attributes) if k in _PASSED_ON]
        return _serialize(new_name, [("class", css_class), *pairs] if css_class else pairs)
    if name == "img":
        pairs = [(k, v) for k, v in _attributes(attributes) if k not in _IMAGE_DROP]
        if not any(k == "alt" for k, _ in pairs):
            pairs.append(("alt", ""))
        return _serialize("img", [*pairs, *_IMAGE_SET])
    if " style=" not in attributes and ' class=""' not in attributes:
        return text
    pairs = [(k, v) for k, v in _attributes(attributes)
             if k != "style" and not (k == "class" and not v)]
    return _serialize(name, pairs)


def _end_tag(name: str) -> str:
    if name not in OBSOLETE:
        return f"</{name}>"
    replacement = OBSOLETE[name]
    return "" if replacement is None else f"</{replacement[0]}>"


def _is_hidden(attributes: str) -> bool:
    if " style=" not in attributes:
        return False
    return any(k == "style" and v and _HIDDEN_RE.search(v) for k, v in _attributes(attributes))


def _drop_hidden(clean: str) -> str:
    """Remove every element whose style hides it, with its content (balanced input)."""
    parts: list[str] = []
    kept = 0
    hidden = 0  # depth inside a hidden element, counting only its own name
    hidden_name = ""
    for tag in _CANONICAL_TAG_RE.finditer(clean):
        closing, name = tag.group(1), tag.group(2)
        if hidden:
            if name == hidden_name:
                hidden += -1 if closing else 1
            if not hidden:
                kept = tag.end()
        elif not closing and _is_hidden(tag.group(3)):
            parts.append(clean[kept : tag.start()])
            kept = tag.end()
            if name not in _VOID:
                hidden, hidden_name = 1, name
    if not parts:
        return clean
    if not hidden:  # else a hidden element ran to the end (not canonical input)
        parts.append(clean[kept:])
    return "".join(parts)


_ATTRIBUTES = r'((?: [^\s"=/>]++(?:="[^"]*+")?+)*+)'


@lru_cache(maxsize=4)
def _renamer(names: frozenset[str]) -> re.Pattern[str]:
    """A pattern for the start and end tags of ``names`` only."""
    return re.compile(rf"<(/?)({'|'.join(sorted(names))}){_ATTRIBUTES}>")


#: A start tag with a style attribute or an emptied class, whatever its name.
_RESTYLE_RE = re.compile(
    r'<([a-z][a-z0-9]*+)((?: [^\s"=/>]++(?:="[^"]*+")?+)*? (?:style="[^"]*+"|class="")'
    rf"{_ATTRIBUTES[1:-1]})>"
)


def _rename(tag: re.Match[str], drop: frozenset[str]) -> str:
    closing, name, attributes = tag.group(1, 2, 3)
    if name in drop:
        return ""
    return _end_tag(name) if closing else _start_tag(name, tag.group(0), attributes)


def _restyle(tag: re.Match[str]) -> str:
    return _start_tag(tag.group(1), tag.group(0), tag.group(2))


def normalize(clean: str, drop: frozenset[str] = frozenset()) -> str:
    """Rewrite sanitiser output: hidden elements and ``drop`` tags removed, obsolete
    elements modernised, images completed, style attributes removed.

    ``drop`` names elements to unwrap (their content stays). The input must be canonical
    (nh3's serialisation, which is also balanced); each step is one regular scan that
    calls back only for the tags it changes.
    """
    if _HIDDEN_RE.search(clean):
        clean = _drop_hidden(clean)
    names = drop | OBSOLETE.keys() | {"img"}
    clean = _renamer(frozenset(names)).sub(lambda tag: _rename(tag, drop), clean)
    return _RESTYLE_RE.sub(_restyle, clean) if " style=" in clean or ' class=""' in clean else clean
