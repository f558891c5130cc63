"""The migration set of a source whose shape declares its table's columns (sources/<name>/, Shape.columns): named
after the source, it makes the table and what every records table has (migrations.declared_table). Applied after
the tracker's own set, so a database of any age gains a new source's tables on its next open."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..sources import Source

if TYPE_CHECKING:
    from sqlite_utils import Migrations


def declared_migrations(source: Source) -> Migrations:
    from sqlite_utils import Migrations

    from .migrations import declared_table

    shape = source.shape
    assert shape.columns is not None, f"{source.name} declares no table"
    made = Migrations(source.name)

    def create(db) -> None:
        declared_table(db, source=source.name, table=shape.table, key=shape.key, columns=shape.columns,
                       changes_table=shape.changes_table, text_columns=shape.text_columns)

    create.__name__ = f"m001_{shape.table}"
    create.__doc__ = f"{source.label}'s records ({shape.table}), their changes ({shape.changes_table}) and text index."
    made()(create)
    return made
