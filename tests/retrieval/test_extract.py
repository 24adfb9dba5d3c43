"""Text extraction from real files of each format, made here with fpdf2 and python-docx."""

from __future__ import annotations

import io
import zipfile

import pytest

from causerie.errors import PayloadTooLargeError, UnsupportedFileError
from causerie.retrieval.extract import ExtractLimits, display_name, extract, kind_of
from tests.retrieval.files import docx_of, pdf_of


def test_a_pdf_keeps_its_page_numbers() -> None:
    data = pdf_of(["The lighthouse keeper wrote daily.", "", "Page three mentions Brest."])
    extracted = extract("report.pdf", data)
    assert extracted.kind == "pdf"
    assert [page.number for page in extracted.pages] == [1, 2, 3]
    assert "lighthouse keeper" in extracted.pages[0].text
    assert extracted.pages[1].text == ""
    assert "Brest" in extracted.pages[2].text and extracted.has_text


def test_a_pdf_without_a_text_layer_says_it_has_no_text() -> None:
    extracted = extract("scan.pdf", pdf_of(["", ""]))
    assert extracted.kind == "pdf" and len(extracted.pages) == 2
    assert not extracted.has_text


def test_the_content_decides_over_the_name() -> None:
    data = pdf_of(["Hidden under another name."])
    assert kind_of("notes.txt", data) == "pdf"
    assert "another name" in extract("notes.txt", data).text


def test_a_docx_gives_paragraphs_and_tables_in_order() -> None:
    data = docx_of(
        ["Quarterly figures", "Sales rose in Lyon."], [["city", "sales"], ["Lyon", "42"]]
    )
    extracted = extract("q3.docx", data)
    assert extracted.kind == "docx" and extracted.pages[0].number is None
    text = extracted.text
    assert text.index("Quarterly figures") < text.index("Sales rose") < text.index("Lyon | 42")
    assert "city | sales" in text


def test_html_keeps_the_visible_text_only() -> None:
    page = (
        "<html><head><title>t</title><style>p{color:red}</style></head><body>"
        "<h1>Recipe</h1><p>Whisk two&nbsp;eggs &amp; sugar.</p><script>alert(1)</script>"
        "<table><tr><td>flour</td><td>200 g</td></tr></table></body></html>"
    )
    text = extract("recipe.html", page.encode()).text
    assert text.splitlines() == ["Recipe", "", "Whisk two eggs & sugar.", "", "flour | 200 g"]


def test_csv_rows_become_lines_whatever_the_delimiter() -> None:
    text = extract("prices.csv", "name;price\ncafé;2,50\nthé;3\n".encode()).text
    assert text.splitlines() == ["name | price", "café | 2,50", "thé | 3"]


def test_text_in_other_encodings_and_code_are_read() -> None:
    latin = "Le château de la Loire, été 1998, près de Saumur.".encode("cp1252")
    assert "château" in extract("notes.txt", latin).text
    assert extract("main.py", b"def f():\n    return 1\n").kind == "code"
    assert extract("README.md", b"# Title\n\nBody").kind == "markdown"
    assert extract("notes", b"no extension, plain text").kind == "text"


def test_unreadable_files_are_refused_clearly() -> None:
    with pytest.raises(UnsupportedFileError, match="not a file Causerie can read"):
        extract("photo.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    with pytest.raises(UnsupportedFileError, match="could not be read as a PDF"):
        extract("broken.pdf", b"%PDF-1.7\nnot really a pdf")
    with pytest.raises(UnsupportedFileError, match="not a valid DOCX"):
        extract("broken.docx", b"PK\x03\x04 not a zip")


def test_size_limits_refuse_big_files_and_zip_bombs() -> None:
    with pytest.raises(PayloadTooLargeError, match="the limit is 10 bytes"):
        extract("big.txt", b"x" * 11, ExtractLimits(max_bytes=10))
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\0" * 2_000_000)  # a few KB once compressed
    data = bomb.getvalue()
    assert len(data) < 20_000
    with pytest.raises(PayloadTooLargeError, match="unpacks to 1 parts and 2,000,000 bytes"):
        extract("bomb.docx", data, ExtractLimits(max_unzipped_bytes=1_000_000))


def test_a_name_is_never_more_than_a_name() -> None:
    assert display_name("../../etc/passwd.txt") == "passwd.txt"
    assert display_name("C:\\Users\\me\\notes.md") == "notes.md"
    with pytest.raises(UnsupportedFileError, match="'evil.bin'"):
        extract("../../evil.bin", b"\0\1\2")
