"""The newest tier of each text index: the same FTS5 index over a table's most recently stored rows, in two
generations ({table}_newest_a, {table}_newest_b) of up to GENERATION_ROWS rows each, each with its own copy of
their text.

Why: bm25 counts a word's records over the whole doclist of the index it ranks in, 15 ms for "stem cell" over a
million papers; over the tier, 1-2 ms. A search ranks a common word's matches here (store.reads.select_ranking).

How it stays whole without deleting: new rows go to the current generation; when it holds GENERATION_ROWS, the other
generation is dropped (DROP TABLE: no row-by-row deletes, whose marked entries FTS5 keeps until its segments
merge: a tier trimmed row by row answered "cells" in 68 ms instead of 14) and begun anew as the current one. A
rewritten row is written again into the generation that holds it. Each generation holds a run of the table's rowids,
the older below the newer, so the tier holds every row of the table from its first rowid on (spans()[0].first)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TIER_ROWS = 20_000  # the newest rows a new tier is filled with; afterwards it holds between GENERATION_ROWS and twice that
GENERATION_ROWS = TIER_ROWS // 2


def generations(table: str) -> tuple[str, str]:
    return f"{table}_newest_a", f"{table}_newest_b"


@dataclass(frozen=True)
class Span:
    name: str  # the generation's FTS5 table
    first: int
    last: int


def spans(db: Any, table: str) -> list[Span]:
    """The non-empty generations, older first (their first and last rowids, read from their docsize tables' keys:
    min() and max() each in its own SELECT, which SQLite answers from the key's ends; together in one, it reads the
    whole table, 2.6 ms for 20,000 rows, six times in a search of every source)."""
    found = []
    for name in generations(table):
        first, last = db.execute(f"SELECT (SELECT min(id) FROM {name}_docsize), (SELECT max(id) FROM {name}_docsize)").fetchone()
        if first is not None:
            found.append(Span(name, first, last))
    return sorted(found, key=lambda s: s.first)


def rows(db: Any, span: Span) -> int:
    """How many rows a generation holds (a count of its docsize table: 0.01 ms for 20,000)."""
    return db.execute(f"SELECT count(*) FROM {span.name}_docsize").fetchone()[0]


def exists(db: Any, table: str) -> bool:
    return bool(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{generations(table)[0]}_docsize",)).fetchone())


def create(db: Any, table: str, columns: tuple[str, ...]) -> None:
    """Both generations, the first filled with the table's newest TIER_ROWS rows, and the trigger that takes a
    deleted row out of them."""
    names = ", ".join(columns)
    db.execute(f"DROP TRIGGER IF EXISTS {table}_newest_ad")
    for name in generations(table):
        _begin(db, name, names)
    db.execute(f"INSERT INTO {generations(table)[0]} (rowid, {names}) SELECT text_rowid, {names} FROM {table}_text "
               f"WHERE text_rowid > (SELECT coalesce(max(rowid), 0) FROM {table}) - {TIER_ROWS}")
    body = " ".join(f"DELETE FROM {name} WHERE rowid = old.rowid;" for name in generations(table))
    db.execute(f"CREATE TRIGGER {table}_newest_ad AFTER DELETE ON {table} BEGIN {body} END")


def _begin(db: Any, name: str, names: str) -> None:
    db.execute(f"DROP TABLE IF EXISTS {name}")
    db.execute(f"CREATE VIRTUAL TABLE {name} USING fts5({names}, tokenize='porter')")


def write(db: Any, table: str, columns: tuple[str, ...], written: str, params: list[Any]) -> None:
    """The text of rows just written to the table (`written`: SQL naming their rowids, with `params`): a rewritten row
    anew in the generation that holds it, a new row (above every rowid the tier holds) in the current generation; a
    row older than the tier stays out of it."""
    names = ", ".join(columns)
    held = spans(db, table)
    for span in held:
        if db.execute(f"DELETE FROM {span.name} WHERE rowid IN {written}", params).rowcount:
            db.execute(f"INSERT INTO {span.name} (rowid, {names}) SELECT text_rowid, {names} FROM {table}_text "
                       f"WHERE text_rowid IN {written} AND text_rowid BETWEEN ? AND ?", [*params, span.first, span.last])
    above = held[-1].last if held else 0
    if not db.execute(f"SELECT 1 FROM {table} WHERE rowid IN {written} AND rowid > ? LIMIT 1", [*params, above]).fetchone():
        return
    current = _current(db, table, held, names)
    db.execute(f"INSERT INTO {current} (rowid, {names}) SELECT text_rowid, {names} FROM {table}_text "
               f"WHERE text_rowid IN {written} AND text_rowid > ?", [*params, above])


def _current(db: Any, table: str, held: list[Span], names: str) -> str:
    """The generation new rows go to: the newer one, until it holds GENERATION_ROWS; then the other, begun anew."""
    if not held:
        return generations(table)[0]
    newest = held[-1]
    if rows(db, newest) < GENERATION_ROWS:
        return newest.name
    other = next(name for name in generations(table) if name != newest.name)
    _begin(db, other, names)
    return other
