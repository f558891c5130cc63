"""The shared report toolbox: text cleaning and Markdown escaping, record links, what a digest is called (its title,
the baseline's epoch), and whole-file writes through a temporary file. Used by the digest, its feeds, the claims
report and the console; renders nothing itself (the Jinja2 environment is templating.py's)."""

from __future__ import annotations

import errno
import re
from pathlib import Path
from typing import Any, Iterable

from markupsafe import Markup, escape

from .identifiers import recognise, url_for
from .sources import SOURCES
from .errors import TrackerError

EPOCH = "1970-01-01T00:00:00Z"  # where the first digest's window starts: it covers everything stored (the baseline)
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def digest_title(window_start: str, window_end: str, *, baseline: bool) -> str:
    """What a digest is called, on its pages and in its feed entries (the e-mail subject, shorter, names only the
    window's end): the first one is the baseline."""
    return f"Baseline digest to {window_end[:10]}" if baseline else f"Digest {window_start[:10]} to {window_end[:10]}"


def clean_text(value: Any) -> str:
    """Control characters are dropped: they are invalid in XML and mean nothing to a reader."""
    return CONTROL_RE.sub("", "" if value is None else str(value))


MD_SPECIAL = re.compile(r"([\\`*_\[\]<#|])")  # "<" stops raw HTML; ">" only matters at line start


def md_escape(value: Any) -> str:
    return MD_SPECIAL.sub(r"\\\1", " ".join(clean_text(value).split()))


def record_url(record_id: str, source: str | None = None) -> str:
    """The public page of a record: by its source's id scheme when the source is known, else by the scheme its id
    is recognised as (ClinicalTrials.gov for an NCT number, PubMed for a PMID, the registry's page for the others)."""
    if source in SOURCES:
        return SOURCES[source].url(record_id)
    recognised = recognise(record_id)
    return url_for(*recognised) if recognised else ""


RECORD_ID_RE = re.compile(r"\b(NCT\d{8})\b|\b(PMIDs?:? )(\d{1,9}(?:, \d{1,9})*)\b")


def _link_ids(text: str, link: Any) -> str:
    """Every NCT number and every PMID after "PMID" in a text made a link by `link(id)`."""
    def one(match: re.Match) -> str:
        if match.group(1):
            return link(match.group(1))
        return match.group(2) + re.sub(r"\d+", lambda n: link(n.group(0)), match.group(3))
    return RECORD_ID_RE.sub(one, text)


def html_linked(value: Any) -> Markup:
    """Escaped text with its NCT numbers and PMIDs linked to their public pages (a signal's or check's summary)."""
    text = str(escape(" ".join(clean_text(value).split())))
    return Markup(_link_ids(text, lambda i: f'<a href="{record_url(i)}">{i}</a>'))


def md_linked(value: Any) -> str:
    return _link_ids(md_escape(value), lambda i: f"[{i}]({record_url(i)})")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write a whole file through a temporary one, so a reader never sees half a report."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # no half-written file stays behind
        raise TrackerError(f"cannot write {path}: {WRITE_PROBLEMS.get(exc.errno, exc.strerror)}") from None
    return path


WRITE_PROBLEMS = {errno.ENOSPC: "the disk holding it is full", errno.EFBIG: "a file-size limit was reached",
                  errno.EROFS: "it is on a read-only file system", errno.EACCES: "permission denied",
                  errno.EDQUOT: "the disk quota is exceeded"}


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet reads as the start of a formula


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a string starting like a formula (a title "=HYPERLINK(...)") gets a
    leading apostrophe, as OWASP advises for CSV injection, so Excel and LibreOffice never run it. Numbers pass as
    they are; so does a date or an id (they start with digits or letters)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [spreadsheet_safe(v) for v in values]
