"""The Atom feeds: reports/feed.xml with every digest, and reports/lines/NAME/feed.xml for clinicians who follow one
topic line. Each entry carries the whole HTML digest as its content (a feed reader shows it all), a stable id, and a
link that is absolute when TRACKER_BASE_URL says where the reports are served."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from .reports import EPOCH, clean_text, digest_title, write_text_atomic

ATOM = "http://www.w3.org/2005/Atom"
FEED_TITLE = "Stem-cell hair-loss tracker: weekly digests"


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    updated: str
    html: str
    href: str | None


def _href(base_url: str | None, relative: str) -> str:
    return f"{base_url.rstrip('/')}/{relative}" if base_url else relative


def render_feed(entries: list[Entry], *, feed_id: str, title: str, updated: str, self_href: str | None) -> str:
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    ET.SubElement(feed, f"{{{ATOM}}}id").text = feed_id
    ET.SubElement(feed, f"{{{ATOM}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM}}}updated").text = updated
    if self_href:
        ET.SubElement(feed, f"{{{ATOM}}}link", {"rel": "self", "type": "application/atom+xml", "href": self_href})
    author = ET.SubElement(feed, f"{{{ATOM}}}author")
    ET.SubElement(author, f"{{{ATOM}}}name").text = "tracker"
    for entry in entries:
        item = ET.SubElement(feed, f"{{{ATOM}}}entry")
        ET.SubElement(item, f"{{{ATOM}}}id").text = entry.id
        ET.SubElement(item, f"{{{ATOM}}}title").text = entry.title
        ET.SubElement(item, f"{{{ATOM}}}updated").text = entry.updated
        if entry.href:
            ET.SubElement(item, f"{{{ATOM}}}link", {"rel": "alternate", "type": "text/html", "href": entry.href})
        ET.SubElement(item, f"{{{ATOM}}}content", {"type": "html"}).text = clean_text(entry.html)  # escaped by ElementTree
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


BODY_RE = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


def _html_or_summary(path: Path | None, summary: str) -> str:
    """The digest page's body, as an HTML fragment (a feed entry's content is not a document: readers drop or
    mangle its <html>, <head> and styles); if the page was removed, its summary, so the entry still says something."""
    try:
        page = path.read_text(encoding="utf-8") if path is not None else None
    except OSError:
        page = None
    if page is None:
        return f"<p>{_escape(summary)}</p>"
    body = BODY_RE.search(page)
    return body.group(1).strip() if body else page


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _title(row: dict[str, Any], line: str | None = None) -> str:
    """The entry's title, as the digest's own page titles it ("Baseline digest to ..." for the first, whose window
    starts at the epoch); "(incomplete)" when an update in the window failed, came back short or did not run (for a
    line's feed: an update of that line), as the e-mail subject says it."""
    title = digest_title(row["window_start"], row["window_end"], baseline=row["window_start"] == EPOCH)
    incomplete = json.loads(row.get("incomplete_lines") or "[]")
    flagged = line in incomplete if line is not None else bool(incomplete)
    return title + (" (incomplete)" if flagged else "")


def write_feeds(digests: list[dict[str, Any]], reports_dir: Path, *, lines: list[tuple[str, str]], updated: str, base_url: str | None) -> list[Path]:
    """reports/feed.xml and one feed per topic line (lines: (name, title)), from the stored digests, newest first."""
    entries = []
    for row in digests:
        html_file = next((Path(f) for f in json.loads(row["files"] or "[]") if f.endswith(".html")), None)
        entries.append(Entry(
            id=f"urn:tracker:digest:{row['window_start']}/{row['window_end']}", title=_title(row), updated=row["created_at"],
            html=_html_or_summary(html_file, row["summary"]), href=_href(base_url, html_file.name) if html_file else None,
        ))
    written = [write_text_atomic(reports_dir / "feed.xml", render_feed(
        entries, feed_id="urn:tracker:digests", title=FEED_TITLE, updated=updated, self_href=_href(base_url, "feed.xml") if base_url else None))]
    for name, title in lines:
        folder = reports_dir / "lines" / name
        line_entries = []
        for row in digests:
            page = folder / f"{row.get('file_stem') or 'digest-' + row['window_end'][:10]}.html"
            if not page.exists():
                continue
            line_entries.append(Entry(
                id=f"urn:tracker:line:{name}:digest:{row['window_start']}/{row['window_end']}", title=f"{title}: {_title(row, name).lower()}",
                updated=row["created_at"], html=_html_or_summary(page, row["summary"]), href=_href(base_url, f"lines/{name}/{page.name}"),
            ))
        folder.mkdir(parents=True, exist_ok=True)
        written.append(write_text_atomic(folder / "feed.xml", render_feed(
            line_entries, feed_id=f"urn:tracker:line:{name}", title=f"{FEED_TITLE}: {title}", updated=updated,
            self_href=_href(base_url, f"lines/{name}/feed.xml") if base_url else None)))
    return written
