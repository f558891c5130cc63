"""The newest tier of each text index: the same FTS5 index over a table's most recently stored rows, in two
overlapping generations ({table}_newest_a, {table}_newest_b), each with its own copy of their text.

Why: bm25 counts a word's records over the whole doclist of the index it ranks in, 15 ms for "stem cell" over a
million papers; over the tier, 1-2 ms. A search ranks a common word's matches here (store.reads.select_ranking).

How it stays whole without deleting: every new row goes to both generations. The older holds the newest
GENERATION_ROWS to TIER_ROWS rows and is the one searched; the younger holds those stored since the older held
GENERATION_ROWS. When the younger holds GENERATION_ROWS itself, the older is dropped (DROP TABLE: no row-by-row
deletes, whose marked entries FTS5 keeps until its segments merge: a tier trimmed row by row answered "cells" in
68 ms instead of 14), the younger becomes the older, and the dropped one is begun anew as the younger. A search
ranks in one generation, so every hit is scored with the same statistics: two disjoint generations merged by score
gave a young one's few records their own counts, and a topic's newest records, where its words are in every
record, scored next to nothing and fell below every older hit. A rewritten row is written again in each generation
that holds it. Each generation holds every row of the table from its first rowid on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TIER_ROWS = 20_000  # the most rows the searched generation holds (a new tier is filled with the newest TIER_ROWS)
GENERATION_ROWS = TIER_ROWS // 2  # the fewest it holds once the table has that many


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


def searched(db: Any, table: str) -> Span | None:
    """The generation a search ranks in: the older, which holds every row the younger holds; None without a tier."""
    held = spans(db, table) if exists(db, table) else []
    return held[0] if held else None


def rows(db: Any, span: Span) -> int:
    """How many rows a generation holds (a count of its docsize table: 0.01 ms for 20,000)."""
    return db.execute(f"SELECT count(*) FROM {span.name}_docsize").fetchone()[0]


def exists(db: Any, table: str) -> bool:
    return bool(db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{generations(table)[0]}_docsize",)).fetchone())


def create(db: Any, table: str, columns: tuple[str, ...]) -> None:
    """Both generations, the older filled with the table's newest TIER_ROWS rows and the younger with those of them
    after its first GENERATION_ROWS, and the trigger that takes a deleted row out of them."""
    names = ", ".join(columns)
    older, younger = generations(table)
    db.execute(f"DROP TRIGGER IF EXISTS {table}_newest_ad")
    for name in (older, younger):
        _begin(db, name, names)
    db.execute(f"INSERT INTO {older} (rowid, {names}) SELECT text_rowid, {names} FROM {table}_text "
               f"WHERE text_rowid > (SELECT coalesce(max(rowid), 0) FROM {table}) - {TIER_ROWS}")
    db.execute(f"INSERT INTO {younger} (rowid, {names}) SELECT text_rowid, {names} FROM {table}_text "
               f"WHERE text_rowid > (SELECT id FROM {older}_docsize ORDER BY id LIMIT 1 OFFSET {GENERATION_ROWS - 1})")
    body = " ".join(f"DELETE FROM {name} WHERE rowid = old.rowid;" for name in generations(table))
    db.execute(f"CREATE TRIGGER {table}_newest_ad AFTER DELETE ON {table} BEGIN {body} END")


def _begin(db: Any, name: str, names: str) -> None:
    db.execute(f"DROP TABLE IF EXISTS {name}")
    db.execute(f"CREATE VIRTUAL TABLE {name} USING fts5({names}, tokenize='porter')")


def write(db: Any, table: str, columns: tuple[str, ...], written: str, params: list[Any]) -> None:
    """The text of rows just written to the table (`written`: SQL naming their rowids, with `params`): a rewritten row
    anew in each generation that holds it, a new row (above every rowid the tier holds) in both; a row older than the
    tier stays out of it."""
    names = ", ".join(columns)
    held = spans(db, table)
    for span in held:
        if db.execute(f"DELETE FROM {span.name} WHERE rowid IN {written}", params).rowcount:
            db.execute(f"INSERT INTO {span.name} (rowid, {names}) SELECT text_rowid, {names} FROM {table}_text "
                       f"WHERE text_rowid IN {written} AND text_rowid BETWEEN ? AND ?", [*params, span.first, span.last])
    above = max((span.last for span in held), default=0)
    if not db.execute(f"SELECT 1 FROM {table} WHERE rowid IN {written} AND rowid > ? LIMIT 1", [*params, above]).fetchone():
        return
    for name in _receiving(db, table, held, names):
        db.execute(f"INSERT INTO {name} (rowid, {names}) SELECT text_rowid, {names} FROM {table}_text "
                   f"WHERE text_rowid IN {written} AND text_rowid > ?", [*params, above])


def _receiving(db: Any, table: str, held: list[Span], names: str) -> list[str]:
    """The generations new rows go to: both; the younger begun once the older holds GENERATION_ROWS; the older dropped
    once the younger holds GENERATION_ROWS, and begun anew as the younger."""
    if not held:
        return [generations(table)[0]]
    other = next(name for name in generations(table) if name != held[0].name)
    if len(held) == 1:
        if rows(db, held[0]) < GENERATION_ROWS:
            return [held[0].name]
        _begin(db, other, names)
        return [held[0].name, other]
    older, younger = held
    if rows(db, younger) >= GENERATION_ROWS:
        _begin(db, older.name, names)  # dropped whole and begun anew: the younger from now on
    return [older.name, younger.name]
