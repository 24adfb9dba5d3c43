"""Markdown -> sanitized HTML: hostile input comes out inert, ordinary markdown looks right."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from causerie.web.render import pygments_css, render_markdown

STATIC = Path(__file__).resolve().parents[2] / "causerie" / "web" / "static"

PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src='javascript:alert(1)'></iframe>",
    "<iframe srcdoc='<script>alert(1)</script>'></iframe>",
    "<object data='data:text/html,<script>alert(1)</script>'></object>",
    "<embed src='javascript:alert(1)'>",
    '<a href="javascript:alert(1)">x</a>',
    "<a href='jav&#x09;ascript:alert(1)'>x</a>",
    "<div onclick=alert(1) onmouseover=alert(1)>x</div>",
    "<style>body{display:none}</style>",
    "<link rel=stylesheet href=//evil.example/x.css>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<form action=//evil.example><input autofocus onfocus=alert(1)></form>",
    "<details open ontoggle=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;avascript&colon;alert(1))",
    "[x](java\\script:alert(1))",
    "[x]( javascript:alert(1) )",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "![i](http://evil.example/x.png)",
    "![i](data:image/png;base64,iVBORw0KGgo=)",
    "![i](x onerror=alert(1))",
    "![<img src=x onerror=alert(1)>](http://evil.example/x.png)",
    '[x](https://ok.example/" onmouseover="alert(1))',
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "```html\n<img src=x onerror=alert(1)>\n```",
    '```" onmouseover=alert(1) x="\nbody\n```',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#60;script&#62;alert(1)&#60;/script&#62;",
    "<<script>script>alert(1)<</script>/script>",
    "| a |\n|---|\n| <script>alert(1)</script> |",
]

ALLOWED_SCHEMES = ("http://", "https://", "mailto:")
WRAPPERS = {("class", "code-block"), ("class", "code-header"), ("class", "math-block")}
CODE_HEADER = (
    '<div class="code-block"><div class="code-header"><span class="code-lang">{}</span></div>'
)


class Collect(HTMLParser):
    """Every start tag and attribute of a fragment, as a browser's tokenizer would see them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend((tag, name, value or "") for name, value in attrs)


def parse(html: str) -> Collect:
    collector = Collect()
    collector.feed(html)
    collector.close()
    return collector


@pytest.mark.parametrize("payload", PAYLOADS)
def test_hostile_markdown_is_inert(payload: str) -> None:
    html = render_markdown(payload)
    found = parse(html)
    dangerous = {"script", "img", "iframe", "svg", "math", "object", "embed", "style", "link"}
    assert not dangerous & set(found.tags), html
    assert not {"meta", "form", "input", "details", "base", "button"} & set(found.tags), html
    for tag, name, value in found.attributes:
        if tag == "div":  # only our own wrappers
            assert (name, value) in WRAPPERS, html
        assert not name.startswith("on"), html
        assert name not in ("style", "src", "srcdoc", "action", "formaction"), html
        if name == "href":
            assert value.startswith(ALLOWED_SCHEMES), html


def test_raw_html_is_shown_as_text() -> None:
    html = render_markdown("<script>alert(1)</script> and <b>bold</b>")
    assert html == "<p>&lt;script&gt;alert(1)&lt;/script&gt; and &lt;b&gt;bold&lt;/b&gt;</p>\n"


def test_images_become_links_that_load_nothing() -> None:
    html = render_markdown("![a cat](https://example.org/cat.png)")
    assert "<img" not in html
    assert 'class="image-link"' in html
    assert 'href="https://example.org/cat.png"' in html
    assert ">a cat</a>" in html


def test_links_open_in_a_new_tab_without_referrer() -> None:
    html = render_markdown("[docs](https://example.org/docs) and https://example.org/bare")
    found = parse(html)
    assert found.tags.count("a") == 2
    assert 'href="https://example.org/bare"' in html  # bare URLs are linked too
    link_attributes = [(name, value) for tag, name, value in found.attributes if tag == "a"]
    assert link_attributes.count(("rel", "noopener noreferrer nofollow")) == 2
    assert link_attributes.count(("target", "_blank")) == 2


def test_relative_and_unknown_scheme_links_lose_their_href() -> None:
    for source in ("[x](/admin)", "[x](//evil.example/x)", "[x](ftp://example.org/f)"):
        found = parse(render_markdown(source))
        assert found.tags == ["p", "a"]
        assert "href" not in {name for _, name, _ in found.attributes}, source


def test_code_fences_are_highlighted_with_classes() -> None:
    html = render_markdown('```python\ndef greet(name):\n    return f"hi {name}"\n```')
    assert html.startswith(CODE_HEADER.format("python") + '<pre class="highlight"><code>')
    assert '<span class="k">def</span>' in html
    assert '<span class="nf">greet</span>' in html
    assert "style=" not in html


def test_unknown_language_and_plain_fences_are_escaped_code() -> None:
    html = render_markdown("```no-such-language\n<b>x</b>\n```")
    assert html == (
        CODE_HEADER.format("no-such-language")
        + '<pre class="highlight"><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre></div>\n'
    )
    assert CODE_HEADER.format("text") in render_markdown("```\nplain\n```")
    hostile = render_markdown("```<img src=x onerror=alert(1)>\nx\n```")
    assert "<img" not in hostile and "&lt;img" in hostile
    assert render_markdown("    indented <i>\n") == "<pre><code>indented &lt;i&gt;\n</code></pre>\n"


def test_tables_render_with_alignment_classes() -> None:
    html = render_markdown("| left | right |\n|:-----|------:|\n| a | 1 |\n| b | 2 |")
    found = parse(html)
    assert found.tags[:4] == ["table", "thead", "tr", "th"]
    assert found.tags.count("td") == 4
    assert '<th class="align-left">left</th>' in html
    assert '<td class="align-right">2</td>' in html
    assert "style" not in html


def test_common_markdown() -> None:
    html = render_markdown(
        "# Title\n\nSome **bold**, *italic*, ~~gone~~ and `code`.\n\n"
        "1. one\n2. two\n\n- a\n- b\n\n> quoted\n\n---\n"
    )
    for fragment in (
        "<h1>Title</h1>",
        "<strong>bold</strong>",
        "<em>italic</em>",
        "<s>gone</s>",
        "<code>code</code>",
        "<ol>",
        "<ul>",
        "<blockquote>",
        "<hr>",
    ):
        assert fragment in html


def test_unfinished_markdown_renders_while_streaming() -> None:
    assert "<pre" in render_markdown("Here:\n\n```python\nprint(1")
    assert render_markdown("") == ""
    assert render_markdown("**half") == "<p>**half</p>\n"


def test_shipped_pygments_stylesheet_matches_the_formatter() -> None:
    shipped = (STATIC / "pygments.css").read_text()
    assert pygments_css() in shipped
    assert re.search(r"^\.highlight \.k \{", shipped, re.MULTILINE)


def test_task_lists_render_as_boxes_without_inputs() -> None:
    html = render_markdown("- [x] done\n- [ ] todo <b>x</b>\n- plain")
    found = parse(html)
    assert "input" not in found.tags
    assert '<li class="task-list-item"><span class="task-box">☑</span> done</li>' in html
    assert '<span class="task-box">☐</span> todo &lt;b&gt;x&lt;/b&gt;' in html
    assert '<ul class="contains-task-list">' in html


def test_latex_math_becomes_mathml() -> None:
    html = render_markdown("Euler: $e^{i\\pi}+1=0$\n\n$$\\frac{a}{b}$$")
    found = parse(html)
    assert found.tags.count("math") == 2
    assert '<math display="inline"><mrow><msup><mi>e</mi>' in html
    assert '<div class="math-block"><math display="block"><mrow><mfrac>' in html
    assert "xmlns" not in html
    assert render_markdown("It costs $5 and $10 today.") == "<p>It costs $5 and $10 today.</p>\n"


MATH_PAYLOADS = [
    "$\\text{<img src=x onerror=alert(1)>}$",
    "$\\text{<script>alert(1)</script>}$",
    "$$\\text{</math><img src=x onerror=alert(1)>}$$",
    "$\\href{javascript:alert(1)}{x}$",
    "$\\style{background:url(http://evil.example)}{x}$",
    "$\\color{red}{x}$",
    "$\\unknowncommand{<b>}$",
    "$x</mi><mtext><img src=x onerror=alert(1)></mtext>$",
    "$$\\begin{array}{c} <svg onload=alert(1)> \\end{array}$$",
]


@pytest.mark.parametrize("payload", MATH_PAYLOADS)
def test_hostile_math_is_inert(payload: str) -> None:
    html = render_markdown(payload)
    found = parse(html)
    assert not {"script", "img", "svg", "iframe", "style", "a", "b", "mglyph"} & set(found.tags)
    for _tag, name, value in found.attributes:
        assert not name.startswith("on") and name not in ("href", "src", "style"), html
        assert "javascript" not in value and "evil" not in value, html


def test_search_snippets_are_escaped_and_balanced() -> None:
    from causerie.storage.search import MARK_END, MARK_START
    from causerie.web.views import highlight

    marked = highlight(f"a {MARK_START}b{MARK_END} <img src=x onerror=alert(1)> & c")
    assert str(marked) == "a <mark>b</mark> &lt;img src=x onerror=alert(1)&gt; &amp; c"
    stray = str(highlight(f"text with a stray {MARK_END} and {MARK_START} open"))
    assert stray.count("<mark>") == stray.count("</mark>")


def test_bracket_delimited_math() -> None:
    html = render_markdown("see \\(y^2\\) and \\[\\frac{a}{b}\\] done")
    assert '<math display="inline"><mrow><msup>' in html
    assert '<math display="block"><mrow><mfrac>' in html
    assert "<div" not in html  # display math inside a paragraph stays phrasing content
    assert render_markdown("a lone \\( stays text") == "<p>a lone ( stays text</p>\n"
    assert "<math" not in render_markdown("`\\(x\\)` in code")
    hostile = render_markdown("\\(\\text{<img src=x onerror=alert(1)>}\\)")
    assert "<img" not in hostile and "<math" not in hostile


def test_citations_name_given_passages_or_are_marked_unverified() -> None:
    html = render_markdown("As [2] says, and [1][9]; not [x] nor [1000] nor `[1]`.", [1, 2])
    assert re.findall(r'<sup class="citation" data-source="(\d+)">\[\d+\]</sup>', html) == [
        "2",
        "1",
    ]
    unverified = re.findall(r'<sup class="citation unverified"[^>]*>(\[\d+\])</sup>', html)
    assert unverified == ["[9]"] and 'data-source="9"' not in html
    assert "[x]" in html and "[1000]" in html and "<code>[1]</code>" in html
    assert render_markdown("No markers.", [1]) == "<p>No markers.</p>\n"
    assert "citation" not in render_markdown("A reply given no passages [1].")
