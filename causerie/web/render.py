"""Markdown -> sanitized HTML, on the server, for model replies (streamed and stored alike).

Three layers, each enough on its own against the usual tricks:

1. markdown-it-py with ``html=False``: raw HTML in the text comes out escaped, and its link
   validator drops ``javascript:``/``vbscript:``/``file:``/``data:`` destinations.
2. Our renderer rules: images become plain links (no remote image ever loads), table alignment
   becomes a class (the CSP forbids inline styles), code fences are highlighted by Pygments with
   CSS classes.
3. nh3 (ammonia) keeps only an allow-list of tags, attributes, classes and URL schemes
   (http, https, mailto; relative URLs are dropped) and sets ``rel``/``target`` on every link.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from functools import cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.gfm_autolink import gfm_autolink_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

__all__ = ["pygments_css", "render_markdown"]

ALLOWED_TAGS = {
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead", "tr",
    "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
ALIGN_CLASSES = {"align-left", "align-center", "align-right"}
ALLOWED_CLASSES = {
    "a": {"image-link"},
    "pre": {"highlight"},
    "span": {name for name in STANDARD_TYPES.values() if name},  # Pygments token classes
    "td": ALIGN_CLASSES,
    "th": ALIGN_CLASSES,
}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "noopener noreferrer nofollow"
HIGHLIGHT_CLASS = "highlight"


def render_markdown(text: str) -> str:
    """A model's markdown as HTML that is safe to insert into the page."""
    parser = _parser()
    tokens = parser.parse(text)
    _alignment_to_classes(tokens)
    return _cleaner().clean(parser.renderer.render(tokens, parser.options, {}))


def pygments_css() -> str:
    """The stylesheet for highlighted code (``static/pygments.css`` is this, written out)."""
    return str(HtmlFormatter(style="default").get_style_defs(f".{HIGHLIGHT_CLASS}"))


def highlight_code(code: str, lang: str, _attrs: str) -> str:
    """A fenced block as ``<pre class="highlight"><code>`` with Pygments' token classes."""
    body = html.escape(code, quote=False)
    if lang:
        try:
            lexer = get_lexer_by_name(lang)
        except ClassNotFound:
            pass
        else:
            body = highlight(code, lexer, HtmlFormatter(nowrap=True))
    return f'<pre class="{HIGHLIGHT_CLASS}"><code>{body}</code></pre>'


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


@cache
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "highlight": highlight_code})
    parser.enable(["table", "strikethrough"])
    parser.use(gfm_autolink_plugin)
    parser.add_render_rule("image", _image_as_link)
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
