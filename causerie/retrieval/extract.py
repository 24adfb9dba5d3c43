"""Text out of an uploaded file: PDF (page by page), DOCX, HTML, Markdown, plain text, CSV and
source code.

``extract(name, data, limits)`` gives the file's kind and its text by page (one page for the
formats that have none). A PDF without a text layer gives no text, and ``Extracted.has_text``
says so, so that the page can say "no text found (scanned?)" instead of indexing nothing.

The name is only read for its extension (it never becomes a path); the content decides where it
can: a PDF starts with ``%PDF-`` whatever it is called. A DOCX is a zip: its members are counted
and their uncompressed sizes added up before anything is inflated, so a zip bomb is refused
without being opened.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Literal, get_args

from charset_normalizer import from_bytes

from causerie.errors import PayloadTooLargeError, UnsupportedFileError

Kind = Literal["pdf", "docx", "html", "markdown", "text", "csv", "code"]

SUFFIXES: dict[str, Kind] = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".log": "text",
    ".rst": "text",
    ".csv": "csv",
    ".tsv": "csv",
}
CODE_SUFFIXES = frozenset(
    ".py .js .mjs .ts .tsx .jsx .java .kt .c .h .cc .cpp .hpp .cs .go .rs .rb .php .swift .scala "
    ".sh .bash .sql .r .lua .pl .json .yaml .yml .toml .ini .cfg .xml .css .scss .vue .svelte "
    ".tex .ipynb .dockerfile .makefile".split()
)


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """How much an upload may hold: its own size, and for a DOCX the zip's members."""

    max_bytes: int = 50 * 1024 * 1024
    max_zip_members: int = 2_000
    max_unzipped_bytes: int = 200 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Page:
    """A page's text; ``number`` counts from 1 (None for a format without pages)."""

    number: int | None
    text: str


@dataclass(frozen=True, slots=True)
class Extracted:
    kind: Kind
    pages: tuple[Page, ...]

    @property
    def has_text(self) -> bool:
        return any(page.text.strip() for page in self.pages)

    @property
    def text(self) -> str:
        return "\n\n".join(page.text for page in self.pages)


def kind_of(name: str, data: bytes) -> Kind:
    """What the file is: its first bytes for PDF and DOCX, else its extension; a file with an
    unknown extension is text if it decodes as text."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    if data.startswith(b"PK\x03\x04") and suffix == ".docx":
        return "docx"
    if suffix in SUFFIXES:
        return SUFFIXES[suffix]
    if suffix in CODE_SUFFIXES:
        return "code"
    if suffix in (".pdf", ".docx") or b"\x00" in data[:8192]:
        raise UnsupportedFileError(
            f"{display_name(name)!r} is not a file Causerie can read: PDF, DOCX, HTML, Markdown, "
            "plain text, CSV and source code are."
        )
    return "text"


def as_kind(stored: str) -> Kind:
    """A kind read back from the database (one this module gave); anything else is text."""
    return next((kind for kind in get_args(Kind) if kind == stored), "text")


def extract(name: str, data: bytes, limits: ExtractLimits | None = None) -> Extracted:
    """An upload's text: its size checked, its kind decided (``kind_of``), then read."""
    limits = limits or ExtractLimits()
    check_size(name, data, limits)
    return read(kind_of(name, data), data, name, limits)


def check_size(name: str, data: bytes, limits: ExtractLimits) -> None:
    if len(data) > limits.max_bytes:
        raise PayloadTooLargeError(
            f"{display_name(name)!r} is {len(data):,} bytes; the limit is "
            f"{limits.max_bytes:,} bytes.",
            code="file_too_large",
        )


def read(
    kind: Kind, data: bytes, name: str = "file", limits: ExtractLimits | None = None
) -> Extracted:
    """The text of ``data``, already known to be of ``kind``."""
    limits = limits or ExtractLimits()
    if kind == "pdf":
        return Extracted(kind, pdf_pages(data, name))
    if kind == "docx":
        return Extracted(kind, (Page(None, docx_text(data, name, limits)),))
    text = decode(data)
    if kind == "html":
        text = html_text(text)
    elif kind == "csv":
        text = csv_text(text)
    return Extracted(kind, (Page(None, text),))


def display_name(name: str) -> str:
    """The file's own name, without any folders a client put in front of it."""
    return PurePosixPath(name.replace("\\", "/")).name or "file"


def decode(data: bytes) -> str:
    """UTF-8 (with or without a byte-order mark), else the encoding the bytes look like."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        best = from_bytes(data).best()
        return str(best) if best is not None else data.decode("latin-1")


def pdf_pages(data: bytes, name: str) -> tuple[Page, ...]:
    import pypdfium2

    try:
        document = pypdfium2.PdfDocument(data)
    except pypdfium2.PdfiumError as exc:
        raise UnsupportedFileError(
            f"{display_name(name)!r} could not be read as a PDF ({exc})."
        ) from exc
    try:
        pages = []
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            pages.append(Page(index + 1, normalize(textpage.get_text_range())))
            textpage.close()
            page.close()
        return tuple(pages)
    finally:
        document.close()


def docx_text(data: bytes, name: str, limits: ExtractLimits) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise UnsupportedFileError(f"{display_name(name)!r} is not a valid DOCX file.") from exc
    members = archive.infolist()
    unzipped = sum(member.file_size for member in members)
    if len(members) > limits.max_zip_members or unzipped > limits.max_unzipped_bytes:
        raise PayloadTooLargeError(
            f"{display_name(name)!r} unpacks to {len(members):,} parts and {unzipped:,} bytes; "
            f"the limits are {limits.max_zip_members:,} parts and "
            f"{limits.max_unzipped_bytes:,} bytes.",
            code="file_too_large",
        )
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises several kinds for a broken package
        raise UnsupportedFileError(f"{display_name(name)!r} is not a valid DOCX file.") from exc
    blocks: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, docx.table.Table):
            rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in block.rows]
            blocks.append("\n".join(rows))
        else:
            blocks.append(block.text)
    return normalize("\n\n".join(b for b in blocks if b.strip()))


CELL = "\x1f"  # between table cells, until they are joined with " | "


class _TextOfHtml(HTMLParser):
    """The visible text of a page: scripts and styles dropped, a line break at every block."""

    BLOCKS = frozenset(
        "p div section article header footer li ul ol table tr h1 h2 h3 h4 h5 h6 pre "
        "blockquote br hr dt dd figcaption".split()
    )
    HIDDEN = frozenset({"script", "style", "template", "noscript", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append(CELL)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = []
    for line in "".join(parser.parts).splitlines():
        cells = (" ".join(cell.split()) for cell in line.split(CELL))
        lines.append(" | ".join(cell for cell in cells if cell))
    return normalize("\n".join(lines))


def csv_text(text: str) -> str:
    """One line per row, cells joined by `` | `` (the header row first, as in the file)."""
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = csv.reader(io.StringIO(text), dialect)
    return "\n".join(" | ".join(cell.strip() for cell in row) for row in rows if row)


def normalize(text: str) -> str:
    """Unix line ends, no trailing spaces, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")
