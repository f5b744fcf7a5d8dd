"""The Sync Log table as a user reads it: each run's row, cell by column heading.

`run_rows(html)` maps a run id to {heading: text} for every `tr.run-row` of the page's
Sync Log table. A cell's text leaves out its small print (`.cell-note`: the read mode
under the trigger, the connectors tried under the one used), which `notes` keeps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Row:
    cells: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, heading: str) -> str:
        return self.cells[heading]


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


class _SyncLogTable(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.headings: list[str] = []
        self.rows: dict[int, Row] = {}
        self._in_table = False
        self._heading: list[str] | None = None
        self._row: Row | None = None
        self._cell: list[str] | None = None
        self._note: list[str] | None = None
        self._depth = 0  # open elements inside the current cell
        self._note_depth: int | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "table" and "sync-log" in classes:
            self._in_table = True
        elif not self._in_table:
            return
        elif tag == "th":
            self._heading = []
        elif tag == "tr" and "run-row" in classes:
            self._row = self.rows.setdefault(int(a["id"].removeprefix("run-")), Row())
        elif tag == "td" and self._row is not None:
            self._cell, self._note, self._depth = [], [], 0
        elif self._cell is not None and tag not in VOID:
            self._depth += 1
            if "cell-note" in classes and self._note_depth is None:
                self._note_depth = self._depth

    def handle_endtag(self, tag):
        if not self._in_table:
            return
        if tag == "table":
            self._in_table = False
        elif tag == "th" and self._heading is not None:
            self.headings.append(_squeeze("".join(self._heading)))
            self._heading = None
        elif tag == "td" and self._row is not None and self._cell is not None:
            heading = self.headings[len(self._row.cells)]
            self._row.cells[heading] = _squeeze("".join(self._cell))
            self._row.notes[heading] = _squeeze(" ".join(self._note or []))
            self._cell = self._note = None
        elif tag == "tr":
            self._row = None
        elif self._cell is not None and tag not in VOID:
            if self._note_depth == self._depth:
                self._note_depth = None
            self._depth -= 1

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        elif self._cell is not None:
            if self._note_depth is not None:
                self._note.append(data)
            else:
                self._cell.append(data)


def run_rows(html: str) -> dict[int, Row]:
    """Run id -> its row in the page's Sync Log table, in the order shown."""
    table = _SyncLogTable()
    table.feed(html)
    table.close()
    return table.rows
