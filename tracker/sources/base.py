"""What every source is to the update: its name, its window (a saved cursor -> the date to ask from, with the
source's own overlap) and its batches of parsed records, the last of them saying any shortfall (short_batch, with
brief_list naming the missing records). update.py drives any Source without knowing which."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..models import Query

if TYPE_CHECKING:
    from ..http import HttpClient
    from ..settings import Settings


@dataclass
class Batch:
    """Parsed records of one page or efetch, and how many the service said the whole window holds (if it said).
    shortfall: records the service counted and never returned, in words (the run keeps it; the digest says it)."""

    records: list[Any]
    expected: int | None
    shortfall: str | None = None


log = logging.getLogger("tracker.sources")


def short_batch(service: str, line: str, shortfall: str, expected: int | None, *, later: str) -> Batch:
    """The last batch of a line whose answers came back short of their count: no records, the shortfall in words
    (the run keeps it, the digest says it), warned once here with when the records may still come."""
    log.warning("%s line %s: %s (%s; `tracker update --full` asks for every record again)", service, line, shortfall, later)
    return Batch([], expected, shortfall=shortfall)


def brief_list(ids: list[str], shown: int = 10) -> str:
    """Record numbers as a warning names them: all of a few, or the first `shown` and how many more."""
    return ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown else "")


Fetch = Callable[["HttpClient", "Settings", Query, "date | None", datetime], Iterator[Batch]]


@dataclass(frozen=True)
class Source:
    name: str  # stored as runs.source and query_matches.source
    label: str  # for people
    overlap: timedelta  # how far before the saved cursor a window starts again
    applies: Callable[[Query], bool]  # does this topic line ask this source anything?
    fetch: Fetch  # (client, settings, query, since or None for everything, now) -> batches

    def window_start(self, cursor: str | None) -> date | None:
        """The date to ask from: the cursor (the date of the last good run) minus the overlap; None fetches all."""
        if not cursor:
            return None
        return date.fromisoformat(cursor) - self.overlap

    def batches(self, client: "HttpClient", settings: "Settings", query: Query, *, cursor: str | None, now: datetime) -> Iterator[Batch]:
        return self.fetch(client, settings, query, self.window_start(cursor), now)
