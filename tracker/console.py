"""What the terminal shows: logging to stderr with secrets redacted, update progress and per-line results, search
hits, a record page, claim verdicts and written files. Printing only; no HTTP, no SQL."""

from __future__ import annotations

import csv
import json
import logging
import shutil
import sys
import textwrap
from typing import Any, Callable

import click

from .http import redact
from .labels import date_label, phase_label, plural, status_label
from .reports import clean_text, csv_row, record_url
from .settings import Settings
from .sources import SOURCES, TABLES

SECTION_INDENT = 36


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = ()
        return True


def setup_logging(settings: Settings, quiet: bool) -> None:
    root = logging.getLogger("tracker")
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter(settings.secrets))
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)
    root.propagate = False


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


NARROWEST = 40  # below this a line is wrapped as if the window were this wide: a word per line helps nobody


def columns() -> int:
    """The window's width (COLUMNS when set, else the terminal's); 100 when the output is a pipe or a file."""
    return max(NARROWEST, shutil.get_terminal_size((100, 24)).columns)


def one_line(text: str, width: int) -> str:
    text = " ".join(clean_text(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def fit(prefix: str, text: str) -> str:
    """A list row: the prefix, then the text cut with "…" at the window's edge (`tracker show` gives it whole)."""
    return prefix + one_line(text, max(NARROWEST // 2, columns() - len(prefix)))


def whole(text: str, first: str, indent: str, width: int | None = None) -> str:
    """Text a reader must see in full (a signal's summary is the evidence), wrapped under an indent at the window's width."""
    words = " ".join(clean_text(text).split())
    if not words:
        return first.rstrip()
    return textwrap.fill(words, width or columns(), initial_indent=first, subsequent_indent=indent,
                         break_long_words=False, break_on_hyphens=False)


# -- update ----------------------------------------------------------------------------------------

def progress_for(quiet: bool) -> Callable[[str, str], Callable[[int, int | None], None] | None]:
    """A progress line per (line, source), rewritten in place; only on a terminal, so cron logs stay clean (a
    progress bar needs a known total, which PubMed's date windows and CT.gov's later pages do not always give)."""

    def factory(query: str, source: str):
        if quiet or not sys.stderr.isatty():
            return None

        def progress(done: int, total: int | None) -> None:
            tail = f"/{total}" if total else ""
            click.echo(f"\r  {query} [{source}]: {done}{tail} records", nl=False, err=True)

        return progress

    return factory


def line_printer(quiet: bool) -> Callable[[Any], None]:
    """Print each (line, source) result as it finishes; failures always, on stderr."""
    tty = sys.stderr.isatty() and not quiet

    def on_line(line) -> None:
        if tty:
            click.echo("\r\033[K", nl=False, err=True)
        if not quiet or not line.ok:
            click.echo(line.summary(), err=not line.ok)

    return on_line


def note_missing_email(settings: Settings, sources: tuple[str, ...], quiet: bool) -> None:
    """What a source says its service asks for and the settings lack (NCBI's contact address), once per source."""
    for source in (SOURCES[name] for name in sources):
        note = source.notice(settings) if source.notice and not quiet else None
        if note:
            click.echo(f"note: {note}", err=True)


def print_import(outcome, quiet: bool) -> None:
    """What an import held and saved; said even with --quiet when nothing was new or changed is not (a quiet import)."""
    if quiet:
        return
    r = outcome.result
    click.echo(f"{outcome.line} [{SOURCES[outcome.source].label}]: {outcome.held}; new {r.new}, changed {r.changed}, "
               f"unchanged {r.fetched - r.new - r.changed}")


def print_digest(outcome, quiet: bool) -> None:
    if quiet:
        return
    click.echo(outcome.digest.summary)
    for path in outcome.paths:
        click.echo(f"wrote {path}")
    if outcome.sent_to:
        click.echo(f"e-mailed to {outcome.sent_to}")


def print_queries(lines, queries_dir, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        echo_json([{"name": q.name, "title": q.title, "description": q.description, **q.params, "cites": list(q.cites), "path": q.path}
                   for q in lines])
        return
    for q in lines:
        sources = ", ".join([s.label for s in SOURCES.values() if s.applies(q)] + ([f"citers of {plural(len(q.cites), 'anchor paper')}"] if q.cites else []))
        click.echo(f"{q.name:28} {q.title}  [{sources}]")
    if not quiet:
        click.echo(f"{len(lines)} topic lines in {queries_dir}, all valid.")


def print_live_lines(checked: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        echo_json(checked)
        return
    def count(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    asked = [s for s in SOURCES.values() if s.count and any(s.name in c["sources"] for c in checked)]  # a column per source a line asks
    heads = "".join(f" {source.short_label:>9}" for source in asked)
    click.echo(f"{'line':28}{heads}  notes")
    for c in checked:
        notes = "; ".join(c["warnings"]) or ("" if c["ok"] else "counts zero")
        counts = "".join(f" {count(c['counts'].get(s.name)):>9}" for s in asked)
        click.echo(whole(notes, f"{c['name']:28}{counts}  ", " " * (30 + len(counts))) if notes else f"{c['name']:28}{counts}")
    for c in checked:
        for name, translation in c["translations"].items():
            click.echo(f"\n{c['name']}: {SOURCES[name].label} read the search as:\n  {translation}")


# -- search and show -------------------------------------------------------------------------------

def print_hits(hits, *, as_json: bool, as_csv: bool) -> None:
    if as_json:
        echo_json([h.as_dict() for h in hits])
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["kind", "id", "date", "title", "detail", "snippet", "url"])
        for h in hits:
            writer.writerow(csv_row([h.kind, h.id, h.date or "", h.title, h.detail, h.snippet, h.url]))
        return
    pad = " " * SECTION_INDENT
    for h in hits:
        click.echo(fit(f"{h.kind:11} {h.id:12} {(h.date or '')[:10]:10}  ", h.title))
        click.echo(fit(pad, h.detail))
        if h.snippet:
            click.echo(fit(pad, h.snippet))


def print_local_search(found, *, as_json: bool, as_csv: bool) -> None:
    print_hits(found.hits, as_json=as_json, as_csv=as_csv)
    if not found.hits and not (as_json or as_csv):
        click.echo("no stored record matches; try --live to ask ClinicalTrials.gov and PubMed", err=True)
    elif as_json or as_csv:
        pass  # data only
    elif found.more and not found.windowed:
        click.echo(f"showing the {len(found.hits)} best matches; more match (--limit N shows more, filters narrow)", err=True)
    else:
        click.echo(f"{len(found.hits)} match{'es' if len(found.hits) != 1 else ''}", err=True)
    for kind, narrowed in found.windowed:
        records = f"{TABLES[kind].label} records"  # the source as people name it, not its table
        among = "matches" if narrowed.of == "matches" else records
        click.echo(
            f"note: more than {narrowed.more_than:,} {records} match; these are the best of the {narrowed.newest:,} most recently stored {among}. "
            "Add words or filters to narrow the search.",
            err=True,
        )


def print_live_search(results, *, as_json: bool, as_csv: bool) -> None:
    if as_json:
        echo_json([{"source": r.source, "total": r.total, "hits": [h.as_dict() for h in r.hits]} for r in results])
        return
    for r in results:
        if not as_csv:
            click.echo(f"{r.source}: {r.total:,} in all; the first {len(r.hits)}:")
        print_hits(r.hits, as_json=False, as_csv=as_csv)


HUMAN: dict[str, Callable[[Any], Any]] = {
    "overall_status": status_label,
    "phases": lambda v: phase_label(json.dumps(v) if isinstance(v, list) else v),
    "has_results": lambda v: "yes" if v else "no",
    "is_retracted": lambda v: "RETRACTED" if v else "no",
    "is_preprint": lambda v: "yes, not peer reviewed" if v else "no",
    **{k: date_label for k in ("start_date", "primary_completion_date", "completion_date", "first_posted_date",
                               "last_update_posted_date", "results_first_posted_date")},
}


def print_record(shown: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        echo_json(shown)
        return
    record = shown["record"]
    click.echo(whole(record.get("title") or "", f"{shown['id']}: ", "  "))
    for key, value in record.items():
        if key in ("title",) or value in (None, "", []):
            continue
        if key in HUMAN:  # as a person reads it (--json keeps the stored value)
            value = HUMAN[key](value)
        if isinstance(value, list):
            value = "; ".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
        click.echo(whole(str(value), f"  {key:28} ", " " * 31))
    if shown.get("approach"):
        approach = shown["approach"]
        click.echo(whole(f"{approach['name']}{'; also ' + ', '.join(approach['also']) if approach['also'] else ''} (from the {approach['basis']})",
                         "Approach: ", "  "))
    if shown.get("results_text"):
        click.echo("Results (as posted on the registry):")
        for line in shown["results_text"]:
            click.echo(whole(line.strip(), "  " + ("  " if line.startswith("  ") else ""), "      "))
    if shown.get("evidence_level"):
        level = shown["evidence_level"]
        click.echo(whole(f"{level['name']} ({level['basis']})", "Evidence: ", "  "))
    if shown.get("conclusions"):
        click.echo(whole(shown["conclusions"], "Conclusions (the abstract's): ", "  "))
    click.echo("Changes:" if shown["changes"] else "Changes: none recorded")
    for c in shown["changes"]:
        click.echo(whole(f"{c['field']}: {c['old_value'] or 'none'} -> {c['new_value'] or 'none'}", f"  {c['detected_at']}  ", " " * 24))
    others = [i for i in shown["identifiers"] if i["via"] != "own"]
    click.echo("Other identifiers:" if others else "Other identifiers: none")
    for i in others:  # a study's other registrations first, with the page of the registry that holds each
        click.echo(f"  {i['label']:22} {i['value']:24} {i['url'] or '(' + i['via'].replace('_', ' ') + ')'}")
    if shown["same"]:
        heading = "Also registered as (the same study)" if shown["kind"] == "trial" else "Other versions and copies of this work"
        click.echo(f"{heading}:")
        for s in shown["same"]:
            said = " · ".join(x for x in (s["status"], f"tied by {s['tied_by']}" if s.get("tied_by") else None, s["url"]) if x)
            click.echo(f"  {s['label']:22} {s['id']:24} {said}")
    cited = shown.get("cited_by") or {}
    if cited.get("count"):
        newest = cited["newest"] or {}
        click.echo(f"Cited by {cited['count']} stored paper{'s' if cited['count'] != 1 else ''}"
                   + (f" (newest: {newest.get('id')}, {newest.get('sort_date') or 'no date'}: {one_line(newest.get('title') or '', 80)})" if newest else ""))
    for disagreement in shown.get("disagreements") or ():
        click.echo(whole(disagreement, "Registries disagree on ", "  "))
    if shown.get("supplements"):
        click.echo(whole("; ".join(shown["supplements"]), "Given only by another registration: ", "  "))
    click.echo("Links:" if shown["links"] else "Links: none")
    for link in shown["links"]:
        kind = link["via"] + (f" ({link['detail']})" if link.get("detail") else "")
        click.echo(fit(f"  {link['other_id']:12} via {kind}: ", link.get("title") or "(not stored)"))
    lines = ", ".join(f"{m['query']} (since {m['first_seen_at'][:10]})" for m in shown["lines"]) or "none"
    click.echo(whole(lines, "Topic lines: ", "  "))
    click.echo("Needs attention:" if shown["signals"] else "Needs attention: no open signal")
    for s in shown["signals"]:
        click.echo(whole(s["summary"], f"  {s['kind']} (since {s['raised_at'][:10]}): ", "    "))


# -- claims ----------------------------------------------------------------------------------------

def print_claims(results, paths, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        echo_json([r.as_dict() for r in results])
        return
    for r in results:
        click.echo(whole(r.claim.wording, f"{r.claim.id}  {r.verdict:8}  ", " " * (len(r.claim.id) + 12)))
        click.echo(whole(r.summary, "    ", "    "))
        for e in r.evidence[:10]:
            label = e.get("id") or e.get("value")
            click.echo(whole(f"{e.get('title') or ''} {e.get('url') or ''}".strip(), f"    - {e.get('role', e['type'])}: {label} ", "        "))
        if len(r.evidence) > 10:
            click.echo(f"    ... and {len(r.evidence) - 10} more (see the report or --json)")
        click.echo(f"    checked {r.checked_at} ({r.mode}); {r.since_last}")
    if not quiet:
        for path in paths:
            click.echo(f"wrote {path}")


# -- evidence signals ------------------------------------------------------------------------------

def signal_dict(row: dict[str, Any]) -> dict[str, Any]:
    """A signal as --json prints it."""
    return {"kind": row["kind"], "id": row["record_id"], "source": row.get("source"), "title": row["title"], "lines": row["lines"], "raised_at": row["raised_at"],
            "resolved_at": row["resolved_at"], "resolution": row.get("resolution"), "summary": row["summary"], "detail": json.loads(row["detail"] or "{}"),
            "scope": row["scope"] or None, "url": record_url(row["record_id"], row.get("source")), "same_study_as": row.get("study")}


def print_signals(rows: list[dict[str, Any]], *, as_json: bool, as_csv: bool, nothing_stored: bool = False) -> None:
    items = [signal_dict(r) for r in rows]
    if as_json:
        echo_json(items)
        return
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["kind", "id", "title", "lines", "raised_at", "resolved_at", "summary", "url", "detail", "resolution"])
        for s in items:  # detail as JSON text: its keys differ by kind (months, due_date, merged_into, ...)
            writer.writerow(csv_row([s["kind"], s["id"], s["title"] or "", ";".join(s["lines"]), s["raised_at"], s["resolved_at"] or "", s["summary"], s["url"],
                             json.dumps(s["detail"], ensure_ascii=False, sort_keys=True), s["resolution"] or ""]))
        return
    if not items:
        if nothing_stored:  # not an all-clear: nothing has been looked at
            click.echo("no evidence signal: no trial is stored yet; `tracker update` fetches the topic lines and raises them", err=True)
        else:
            click.echo("no evidence signal matches", err=True)
        return
    pad = " " * 4
    for s in items:
        state = f"resolved {s['resolved_at'][:10]}" if s["resolved_at"] else f"since {s['raised_at'][:10]}"
        click.echo(fit(f"{s['kind']:20} {s['id']:12} {state:20} ", s["title"] or ""))
        click.echo(whole(s["summary"], pad, pad))
        if s["same_study_as"]:
            study = s["same_study_as"]
            click.echo(whole(f"Same study as {study['label']} {study['id']} ({study['url']}).", pad, pad))
        if s["resolution"]:
            click.echo(whole(f"Resolved: {s['resolution']}.", pad, pad))
        click.echo(f"{pad}{s['url']}" + (f"  lines: {', '.join(s['lines'])}" if s["lines"] else ""))


def print_findings(findings, *, as_json: bool) -> None:
    if as_json:
        echo_json([{"check": f.check, "ok": f.ok, "text": f.text} for f in findings])
        return
    for f in findings:
        click.echo(f"{'ok' if f.ok else 'PROBLEM':<8} {f.check}: {f.text}")
