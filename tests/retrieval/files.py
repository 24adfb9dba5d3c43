"""Real files of each format, made here (fpdf2 writes PDFs, python-docx DOCX files)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import docx
from fpdf import FPDF

FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)


def pdf_of(pages: list[str]) -> bytes:
    pdf = FPDF()
    pdf.set_creation_date(FIXED_DATE)  # the same pages give the same bytes
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        if text:
            pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def docx_of(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
