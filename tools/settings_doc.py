"""Print (or, with --write, refresh) the settings table of docs/configuration.md from the code."""

from __future__ import annotations

import sys
from pathlib import Path

from causerie.config import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"
BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
DYNAMIC_DEFAULTS = {
    "data_dir": "`$XDG_DATA_HOME/causerie` (`~/.local/share/causerie`)",
    "threads": "usable CPUs",
}


def settings_table() -> str:
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        if name in DYNAMIC_DEFAULTS:
            default = DYNAMIC_DEFAULTS[name]
        elif field.default is None:
            default = "—"
        else:
            default = f"`{field.default}`"
        rows.append(f"| `CAUSERIE_{name.upper()}` | {default} | {field.description} |")
    return "\n".join(rows)


def refreshed(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}"


if __name__ == "__main__":
    if "--write" in sys.argv:
        DOC.write_text(refreshed(DOC.read_text()))
    else:
        print(settings_table())
