"""Reading an answer's fields faithfully, for every source's parser: each reader takes a field in the form its
service documents. A value in another form that keeps its meaning when read ("37" for 37, one name where a list of
names is expected) is read, and said; one that does not (the string "false" where a boolean is, an object where text
is, an impossible date, a number past what SQLite holds) is stored as absent, and said. The record's payload keeps
what came either way, and a record never fails its line for one field.

What is said is one warning per record and field in a run, and the run counts the records (Drift), so the digest
can tell the week a service changed the shape of its answers."""

from __future__ import annotations

import calendar
import contextlib
import json
import logging
import math
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterator

from ..models import PARTIAL_DATE_RE

log = logging.getLogger("tracker.fields")

MAX_INTEGER = 2 ** 63 - 1  # SQLite's largest integer
FLAG_WORDS = {"true": True, "false": False}
SHOWN = 80  # characters of a value that came, in a warning


@dataclass
class Drift:
    """The fields met in an unexpected form while reading, by (record, field): what came. A line's Drift sits inside
    its run's, so a record met again by another line is counted for that line too but warned of once."""

    parent: "Drift | None" = None
    found: dict[tuple[str, str], str] = field(default_factory=dict)

    def note(self, record: str, name: str, came: str) -> bool:
        """Keep it; True when no enclosing Drift has seen it yet (then it is to be said)."""
        new = (record, name) not in self.found and (self.parent is None or (record, name) not in self.parent.found)
        self.found.setdefault((record, name), came)
        if self.parent is not None:
            self.parent.note(record, name, came)
        return new

    @property
    def records(self) -> list[str]:
        return list(dict.fromkeys(record for record, _ in self.found))

    @property
    def fields(self) -> list[str]:
        return sorted({name for _, name in self.found})

    def as_json(self) -> str | None:
        """What the run's row keeps (runs.drift): the records (at most 200 named) and the fields; None when nothing drifted."""
        if not self.found:
            return None
        records = self.records
        return json.dumps({"records": len(records), "named": records[:200], "fields": self.fields}, ensure_ascii=False)


_CURRENT: ContextVar[Drift | None] = ContextVar("tracker_drift", default=None)


@contextlib.contextmanager
def watching() -> Iterator[Drift]:
    """Collect what the readers meet in an unexpected form while the block runs (nested: a line within its run)."""
    drift = Drift(parent=_CURRENT.get())
    token = _CURRENT.set(drift)
    try:
        yield drift
    finally:
        _CURRENT.reset(token)


def shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def drifted(record: str, name: str, value: Any, read_as: Any, *, why: str = "not in its documented form") -> None:
    """Say a field came in an unexpected form: the record, the field, what came and how it was read (once per run)."""
    came = shown(value)
    drift = _CURRENT.get()
    if drift is None or drift.note(record or "a record", name, came):
        log.warning("%s: %s came as %s, %s; read as %s", record or "a record", name, came, why,
                    "absent (the stored payload keeps it)" if read_as is None else shown(read_as))


def valid_date(text: str) -> bool:
    """YYYY, YYYY-MM or YYYY-MM-DD with a month and a day that exist."""
    match = PARTIAL_DATE_RE.match(text)
    if not match:
        return False
    year, month, day = match.groups()
    if month is None:
        return True
    if not 1 <= int(month) <= 12:
        return False
    return day is None or 1 <= int(day) <= calendar.monthrange(int(year), int(month))[1]


@dataclass(frozen=True)
class Fields:
    """The readers for one record's fields; a field given a name is said when it came in an unexpected form."""

    record: str

    def text(self, value: Any, name: str = "") -> str | None:
        """Text: a string as it is (stripped); a number as its digits (said); an object, a list or a boolean where
        text is expected is no text, never its Python repr (said)."""
        if type(value) is str:
            return value.strip() or None
        if value is None:
            return None
        if isinstance(value, (dict, list, bool)):
            if name:
                drifted(self.record, name, value, None)
            return None
        read = str(value).strip() or None
        if name and read:
            drifted(self.record, name, value, read)
        return read

    def flag(self, value: Any, name: str = "", *, words: dict[str, bool] = FLAG_WORDS, documented: bool = False) -> bool | None:
        """A boolean: a boolean as it is, missing as None. A word of `words` ("false", "No") is what it says, never
        true for being a non-empty string; said unless the service documents words for it (documented). Anything
        else is no flag (None), said."""
        if isinstance(value, bool) or value is None:
            return value
        word = words.get(str(value).strip().lower()) if isinstance(value, (str, int)) else None
        if name and not (documented and word is not None):
            drifted(self.record, name, value, word, why="not true/false")
        return word

    def strings(self, value: Any, name: str = "") -> list[str]:
        """A list of names: its non-empty strings as given. One string where a list is expected is a list of it;
        anything else in its place or in the list is left out; both said."""
        if type(value) is list:
            kept = [v.strip() for v in value if isinstance(v, str) and v.strip()]
            if name and len(kept) != len(value) and any(not isinstance(v, str) for v in value):
                drifted(self.record, name, [v for v in value if not isinstance(v, str)], kept, why="items that are not text")
            return kept
        if value is None:
            return []
        if isinstance(value, str):
            kept = [value.strip()] if value.strip() else []
            if name and kept:
                drifted(self.record, name, value, kept, why="one text where a list is documented")
            return kept
        if name:
            drifted(self.record, name, value, None)
        return []

    def whole(self, value: Any, name: str = "", *, documented_text: bool = False, free_text: bool = False) -> int | None:
        """A count: an integer as it is; its digits as text ("37") or an integral float as that integer, said
        (documented_text: the service writes it as text, so its digits are as documented and a number is said);
        past what SQLite holds, negative, fractional or anything else absent, said. free_text: the field is the
        registry's free text ("control group:50;sepsis group:50"), which names no one count: absent, not said."""
        read: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            read = value
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            read = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            read = int(value.strip())
        elif value is None or (isinstance(value, str) and (not value.strip() or free_text)):
            return None
        if read is not None and 0 <= read <= MAX_INTEGER:
            if name and (not isinstance(value, str) if documented_text else type(value) is not int):
                drifted(self.record, name, value, read)
            return read
        if name:
            drifted(self.record, name, value, None, why="past what can be stored" if read is not None and read > MAX_INTEGER else "not a count")
        return None

    def iso_date(self, value: Any, name: str = "") -> str | None:
        """A date written YYYY, YYYY-MM or YYYY-MM-DD with a month and a day that exist; a number or text that is
        certainly a date (yyyymmdd) is read so; an impossible date ("2025-13") or another form ("01/02/2025") is
        absent. Said either way."""
        if type(value) is str and valid_date(value.strip()):
            return value.strip()
        if value is None or value == "":
            return None
        digits = str(value).strip() if isinstance(value, (str, int)) and not isinstance(value, bool) else ""
        candidate = f"{digits[:4]}-{digits[4:6]}-{digits[6:]}" if len(digits) == 8 and digits.isdigit() else ""
        read = candidate if candidate and valid_date(candidate) else None
        if name:
            drifted(self.record, name, value, read, why="not a date that exists" if isinstance(value, str) and PARTIAL_DATE_RE.match(value.strip()) else "not in its documented form")
        return read

    def obj(self, value: Any, name: str = "") -> dict[str, Any]:
        """A nested object: it, or an empty one when missing; anything else in its place is read as empty, said."""
        if isinstance(value, dict):
            return value
        if value is not None and name:
            drifted(self.record, name, value, None, why="not an object")
        return {}

    def items(self, value: Any, name: str = "") -> list[Any]:
        """A list of objects: it, or empty when missing; anything else in its place is read as empty, said."""
        if isinstance(value, list):
            return value
        if value is not None and name:
            drifted(self.record, name, value, None, why="not a list")
        return []


# -- the registries' forms ---------------------------------------------------------------------------

DMY_RE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
ISO_RE = re.compile(r"^(\d{4}-\d{2}(?:-\d{2})?)")
YMD_RE = re.compile(r"^(\d{4})/?(\d{2})/?(\d{2})$")  # 20161206, or 2016/12/06 as UMIN writes it


def text(value: Any) -> str | None:
    """A registry's free text as one clean line (its trailing newlines, indents and runs of spaces gone); None when empty."""
    if type(value) is str and value.isprintable() and "  " not in value and value[:1] != " " and value[-1:] != " ":
        return value or None  # already one clean line (most are): no split and join (isprintable is false for every
        # whitespace character but the space)
    if value is None or isinstance(value, (dict, list)):
        return None
    cleaned = " ".join(str(value).split())
    return cleaned or None


def day(value: Any) -> str | None:
    """A registry date as YYYY-MM-DD (or YYYY-MM): from dd/mm/yyyy, an ISO date or timestamp, yyyymmdd, yyyy/mm/dd or a written
    date ("April 25, 2024", "20 May 2024"); None when it is none of them or names a day that does not exist."""
    raw = text(value)
    if not raw:
        return None
    read: str | None = None
    if found := DMY_RE.match(raw):
        d, m, y = (int(x) for x in found.groups())
        read = f"{y:04d}-{m:02d}-{d:02d}"
    elif found := ISO_RE.match(raw):
        read = found.group(1)
    elif found := YMD_RE.match(raw):
        read = "-".join(found.groups())
    else:
        for form in ("%B %d, %Y", "%d %B %Y", "%B %Y", "%d %b %Y", "%b %d, %Y"):
            try:
                parsed = datetime.strptime(raw, form)
            except ValueError:
                continue
            return parsed.strftime("%Y-%m" if form == "%B %Y" else "%Y-%m-%d")
    return read if read and valid_date(read) else None


class CleanFields(Fields):
    """The readers of a service whose text is read as one clean line (the registries, Europe PMC): dates in the
    forms registries write them (day); counts given as text where the format is text (XML, CTIS's strings)."""

    def text(self, value: Any, name: str = "") -> str | None:
        if type(value) is str:
            return text(value)
        read = super().text(value, name)
        return text(read)

    def day(self, value: Any, name: str = "") -> str | None:
        """A date (day above); a value that is there but no date that exists is absent, said."""
        if value is None or (type(value) is str and not value.strip()):
            return None
        read = day(value) if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)) else None
        if name and (read is None or not isinstance(value, str)):
            drifted(self.record, name, value, read, why="not a date that exists" if isinstance(value, str) else "not in its documented form")
        return read

    def whole(self, value: Any, name: str = "", *, documented_text: bool = True, free_text: bool = False) -> int | None:
        return super().whole(value, name, documented_text=documented_text, free_text=free_text)
