"""Markdown -> sanitized HTML, on the server, for model replies (streamed and stored alike).

Three layers, each enough on its own against the usual tricks:

1. markdown-it-py with ``html=False``: raw HTML in the text comes out escaped, and its link
   validator drops ``javascript:``/``vbscript:``/``file:``/``data:`` destinations.
2. Our renderer rules: images become plain links (no remote image ever loads), table alignment
   becomes a class (the CSP forbids inline styles), code fences are highlighted by Pygments with
   CSS classes under a header naming the language, task-list checkboxes become ☐/☑ text, and
   LaTeX math (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) becomes MathML: latex2mathml's
   output is parsed as XML, checked against a MathML allow-list and serialized again, or the
   formula is shown as code.
3. nh3 (ammonia) keeps only an allow-list of tags, attributes, classes and URL schemes
   (http, https, mailto; relative URLs are dropped) and sets ``rel``/``target`` on every link.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ElementTree
from collections.abc import Collection, Sequence
from functools import cache, lru_cache

import nh3
from latex2mathml.converter import convert as latex_to_mathml
from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

from causerie.chat.sources import CITATION

__all__ = ["pygments_css", "render_markdown"]

MATH_TAGS = {
    "math", "menclose", "merror", "mfrac", "mi", "mmultiscripts", "mn", "mo", "mover",
    "mpadded", "mphantom", "mprescripts", "mroot", "mrow", "ms", "mspace", "msqrt", "mstyle",
    "msub", "msubsup", "msup", "mtable", "mtd", "mtext", "mtr", "munder", "munderover", "none",
}  # fmt: skip
MATH_ATTRIBUTES = {
    "accent", "accentunder", "align", "columnalign", "columnlines", "columnspacing", "depth",
    "display", "displaystyle", "fence", "form", "frame", "height", "largeop", "linethickness",
    "lspace", "mathsize", "mathvariant", "maxsize", "minsize", "movablelimits", "notation",
    "rowalign", "rowlines", "rowspacing", "rspace", "scriptlevel", "separator", "stretchy",
    "symmetric", "width",
}  # fmt: skip
ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "li", "ol", "p", "pre", "s", "span", "strong", "sup", "table", "tbody", "td", "th",
    "thead", "tr", "ul",
} | MATH_TAGS  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "sup": {"data-source", "title"},
    "ol": {"start"},
    **{tag: MATH_ATTRIBUTES for tag in MATH_TAGS},
}
ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
ALLOWED_CLASSES = {
    "a": {"image-link"},
    "code": {"math-source"},
    "div": {"code-block", "code-header", "math-block"},
    "li": {"task-list-item"},
    "pre": {"highlight"},
    "span": {"code-lang", "task-box", *(name for name in STANDARD_TYPES.values() if name)},
    "sup": {"citation", "unverified"},
    "td": ALIGN_CLASSES,
    "th": ALIGN_CLASSES,
    "ul": {"contains-task-list"},
}
URL_SCHEMES = {"http", "https", "mailto"}
UNVERIFIED = "Not one of the passages this reply was given"
LINK_REL = "noopener noreferrer nofollow"
HIGHLIGHT_CLASS = "highlight"


def render_markdown(text: str, sources: Collection[int] | None = None) -> str:
    """A model's markdown as HTML that is safe to insert into the page. With ``sources`` (the
    numbers of the passages the reply was given), its ``[n]`` markers become citations: those
    of a given passage open it (``data-source``), the others are marked unverified."""
    parser = _parser()
    tokens = parser.parse(text)
    _alignment_to_classes(tokens)
    _task_boxes(tokens)
    if sources:
        _citations(tokens, frozenset(sources))
    return _cleaner().clean(parser.renderer.render(tokens, parser.options, {}))


def _citations(tokens: list[Token], given: frozenset[int]) -> None:
    """``[n]`` in the reply's text (not in code) as ``<sup class="citation">``."""
    for token in tokens:
        if not token.children:
            continue
        children: list[Token] = []
        for child in token.children:
            if child.type != "text" or not CITATION.search(child.content):
                children.append(child)
                continue
            position = 0
            for match in CITATION.finditer(child.content):
                children.append(_text(child.content[position : match.start()]))
                number = int(match[1])
                marker = html.escape(match[0])
                if number in given:
                    tag = f'<sup class="citation" data-source="{number}">{marker}</sup>'
                else:
                    tag = f'<sup class="citation unverified" title="{UNVERIFIED}">{marker}</sup>'
                raw = Token("html_inline", "", 0)
                raw.content = tag
                children.append(raw)
                position = match.end()
            children.append(_text(child.content[position:]))
        token.children = [c for c in children if c.type != "text" or c.content]


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def pygments_css() -> str:
    """The stylesheet for highlighted code (``static/pygments.css`` is this, written out)."""
    formatter = HtmlFormatter(style="default")
    return str(formatter.get_style_defs(f".{HIGHLIGHT_CLASS}"))  # type: ignore[no-untyped-call]


def highlight_code(code: str, lang: str, _attrs: str) -> str:
    """A fenced block as ``<pre class="highlight"><code>`` with Pygments' token classes."""
    body = html.escape(code, quote=False)
    lexer = _lexer(lang.lower()) if lang else None
    if lexer is not None:
        body = highlight(code, lexer, _formatter())
    return f'<pre class="{HIGHLIGHT_CLASS}"><code>{body}</code></pre>'


def _fence(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    info = unescapeAll(token.info).strip()
    lang = info.split(maxsplit=1)[0][:40] if info else ""
    label = html.escape(lang or "text")
    code = highlight_code(token.content, lang, "")
    return (
        f'<div class="code-block"><div class="code-header"><span class="code-lang">{label}</span>'
        f"</div>{code}</div>\n"
    )


@lru_cache(maxsize=1024)
def render_math(latex: str, *, display: bool, block: bool | None = None) -> str:
    """LaTeX as MathML that holds only allow-listed elements and attributes, else as code.
    ``block`` (default: ``display``) wraps it in a centred block, outside paragraphs only."""
    try:
        mathml = latex_to_mathml(latex, display="block" if display else "inline")
        root = ElementTree.fromstring(mathml)
        for element in root.iter():
            element.tag = str(element.tag).rpartition("}")[2]
            if element.tag not in MATH_TAGS or not set(element.attrib) <= MATH_ATTRIBUTES:
                raise ValueError(f"unexpected MathML: {element.tag}")
        result = ElementTree.tostring(root, encoding="unicode")
    except Exception:  # latex2mathml raises many kinds on bad input; show the source
        result = f'<code class="math-source">{html.escape(latex)}</code>'
    wrap = display if block is None else block
    return f'<div class="math-block">{result}</div>\n' if wrap else result


def _math_inline(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return render_math(tokens[idx].content, display=False)


def _math_display_inline(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return render_math(tokens[idx].content, display=True, block=False)  # inside a paragraph


def _math_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return render_math(tokens[idx].content, display=True)


def _bracket_math(state: StateInline, silent: bool) -> bool:
    """``\\(...\\)`` inline and ``\\[...\\]`` display math, as many models write it (within a
    paragraph; the closing delimiter must be in the same paragraph)."""
    start = state.pos
    opener = state.src[start : start + 2]
    if opener not in ("\\(", "\\["):
        return False
    closer = "\\)" if opener == "\\(" else "\\]"
    end = state.src.find(closer, start + 2)
    if end == -1 or not state.src[start + 2 : end].strip():
        return False
    if not silent:
        token = state.push("math_inline" if opener == "\\(" else "math_inline_double", "math", 0)
        token.content = state.src[start + 2 : end].strip()
        token.markup = opener
    state.pos = end + 2
    return True


def _task_boxes(tokens: list[Token]) -> None:
    """The tasklists plugin's ``<input type=checkbox>`` (never allowed through) as ☐/☑ text."""
    for token in tokens:
        for child in token.children or []:
            if child.type == "html_inline" and "task-list-item-checkbox" in child.content:
                done = 'checked="checked"' in child.content
                child.content = f'<span class="task-box">{"☑" if done else "☐"}</span>'


def _image_as_link(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    token = tokens[idx]
    label = self.renderInlineAsText(token.children or [], options, env)
    src = str(token.attrGet("src") or "")
    text = html.escape(label or src or "image")
    return f'<a class="image-link" href="{html.escape(src)}">{text}</a>'


def _alignment_to_classes(tokens: list[Token]) -> None:
    for token in tokens:
        style = token.attrGet("style")
        if token.type in ("th_open", "td_open") and isinstance(style, str):
            token.attrs.pop("style")
            align = style.removeprefix("text-align:")
            if f"align-{align}" in ALIGN_CLASSES:
                token.attrSet("class", f"align-{align}")


@lru_cache(maxsize=256)
def _lexer(name: str) -> Lexer | None:
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        return None


@cache
def _formatter() -> HtmlFormatter[str]:
    return HtmlFormatter(nowrap=True)  # building one costs ~1 ms (it derives a stylesheet)


@cache
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "highlight": highlight_code})
    parser.enable(["table", "strikethrough"])
    parser.use(gfm_autolink_plugin)
    parser.use(tasklists_plugin)
    parser.use(dollarmath_plugin, allow_space=False, allow_digits=False, double_inline=True)
    parser.inline.ruler.before("escape", "math_brackets", _bracket_math)
    parser.add_render_rule("image", _image_as_link)
    parser.add_render_rule("fence", _fence)
    parser.add_render_rule("math_inline", _math_inline)
    parser.add_render_rule("math_inline_double", _math_display_inline)
    for name in ("math_block", "math_block_label"):
        parser.add_render_rule(name, _math_block)
    return parser


@cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        allowed_classes=ALLOWED_CLASSES,
        url_schemes=URL_SCHEMES,
        url_relative="deny",
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
