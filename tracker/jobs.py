"""The use cases the CLI and the scheduler share, each opening and closing what it needs: update, digest, run,
search, show, export and claims; and the clock (TRACKER_NOW pins it). No printing: results go back to the caller.

The update, the digest, the claims, the imports, the exports and the health checks are imported by the use cases
that run them, not here: a search or `show` from the shell starts without them and Jinja2 (python -m bench.shell)."""

from __future__ import annotations

import difflib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, TextIO

from .errors import ConfigError, TrackerError
from .search import LiveResult, LocalResult, classify_id, fts_query, search_live, search_local, show_record
from .settings import Settings
from .studies import group_trials
from .sources import SOURCES, TABLES, open_client
from .store import RecordFilter, Store, open_store, select_any_trial, select_export, select_line_names, select_signals
from .topics import load_claims, load_queries, select_claims, select_queries

if TYPE_CHECKING:
    from .claims import ClaimResult
    from .digest import Digest
    from .imports import ImportResult
    from .store.health import Finding
    from .update import LineResult, Progress

DIGEST_FORMATS = ("md", "html", "atom")
log = logging.getLogger("tracker.jobs")


def utcnow() -> datetime:
    """The clock, read here only. TRACKER_NOW (ISO-8601) pins it for reproducible runs and tests."""
    pinned = os.environ.get("TRACKER_NOW")
    if pinned:
        try:
            moment = datetime.fromisoformat(pinned.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(f"TRACKER_NOW={pinned!r} is not an ISO-8601 time") from None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return datetime.now(timezone.utc).replace(microsecond=0)


# -- update, digest, run ---------------------------------------------------------------------------

def update(
    settings: Settings,
    *,
    sources: tuple[str, ...] = tuple(SOURCES),
    names: tuple[str, ...] = (),
    full: bool = False,
    sweep: bool = False,
    now: datetime,
    on_line: Callable[[LineResult], None] | None = None,
    progress_for: Callable[[str, str], Progress | None] | None = None,
) -> list[LineResult]:
    from .update import run_update

    queries = select_queries(load_queries(settings.queries_dir), names)
    cited = claim_citations(settings.queries_dir / "claims.toml")
    with open_store(settings.db_path, check=True) as store, open_client(settings) as client:
        return run_update(store, client, settings, queries, sources=sources, now=now, full=full, on_line=on_line,
                          progress_for=progress_for, sweep=sweep, claim_pmids=cited)


def import_file(settings: Settings, source: str, path: Path, *, line: str | None, now: datetime) -> ImportResult:
    """`tracker import SOURCE FILE`: the file's records saved under a topic line, while no update runs."""
    from .imports import chosen_line, import_file as import_file_into
    from .update import thresholds

    queries = load_queries(settings.queries_dir)
    chosen = chosen_line(queries, line)
    with open_store(settings.db_path, check=True) as store, store.update_lock():
        return import_file_into(store, source, path, line=chosen, now=now, thresholds=thresholds(settings),
                                claim_pmids=claim_citations(settings.queries_dir / "claims.toml"))


def claim_citations(path: Path) -> dict[str, list[str]]:
    """PMID -> the claims whose citation checks name it (for retracted_linked). A claims file that does not load
    is reported by `tracker claims`; here it only means no claim is known to cite anything."""
    if not path.exists():
        return {}
    try:
        claims_ = load_claims(path)
    except TrackerError as exc:
        log.warning("claims file not read for evidence signals: %s", exc)
        return {}
    cited: dict[str, list[str]] = {}
    for claim in claims_:
        for check in claim.checks:
            if check.kind == "citation":
                cited.setdefault(check.params["pmid"], []).append(claim.id)
    return cited


def failure_line(results: list[LineResult]) -> str | None:
    """One line naming what failed in an update, or None when every line succeeded."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{len(failed)} of {len(results)} updates failed; first: {first.query} [{first.source}]: {first.error}{more}"


@dataclass
class DigestOutcome:
    digest: Digest
    paths: list[Path]
    sent_to: str | None


def digest(
    settings: Settings, *, now: datetime, since: str | None = None, until: str | None = None,
    formats: tuple[str, ...] = DIGEST_FORMATS, email: bool = False,
) -> DigestOutcome:
    from .claims import claim_flips
    from .digest import build_digest, digest_window, render_html, render_markdown, send_digest, write_digest

    queries = load_queries(settings.queries_dir)
    with open_store(settings.db_path, check=True) as store:  # a damaged database must not write a digest saying "nothing new"
        start, end = digest_window(store, now=now, since=since, until=until)
        flips = claim_flips(store, start, end, settings.queries_dir / "claims.toml")
        built = build_digest(store, queries, start=start, end=end, claim_flips=flips, serve_url=settings.serve_url,
                             base_url=settings.base_url)
        sent: list[str] = []

        def deliver() -> None:  # the e-mail is part of the delivery: a refused one leaves the window to the next run
            sent.append(send_digest(settings, built, render_html(built, mail=True), render_markdown(built), now=now))

        paths = write_digest(store, built, settings.reports_dir, formats=formats, now=now, base_url=settings.base_url,
                             deliver=deliver if email else None, ad_hoc=bool(since or until))
    return DigestOutcome(built, paths, sent[0] if sent else None)


def run(
    settings: Settings, *, full: bool = False, formats: tuple[str, ...] = DIGEST_FORMATS, email: bool = False,
    on_line: Callable[[LineResult], None] | None = None, progress_for: Callable[[str, str], Progress | None] | None = None,
) -> tuple[list[LineResult], DigestOutcome]:
    """Update every line of both sources, then digest what is stored, even when a source failed."""
    now = utcnow()
    results = update(settings, full=full, now=now, on_line=on_line, progress_for=progress_for)
    # the window end is exclusive and records carry the update's start time: end one second later at least
    outcome = digest(settings, now=max(utcnow(), now + timedelta(seconds=1)), formats=formats, email=email)
    return results, outcome


def scheduled_jobs(settings: Settings) -> list[tuple[str, str, Callable[[], object]]]:
    """(id, cron expression, callable) for `tracker schedule`. Each job opens its own database and client."""

    def update_job() -> None:
        problem = failure_line(update(settings, now=utcnow()))
        if problem:
            raise TrackerError(problem)

    def digest_job() -> None:
        digest(settings, now=utcnow(), email=bool(settings.smtp.get("host")))

    return [("update", settings.update_cron, update_job), ("digest", settings.digest_cron, digest_job)]


# -- topic lines checked live ----------------------------------------------------------------------

def check_lines_live(settings: Settings) -> list[dict]:
    """For each topic line: what each of its sources would bring back today (a count, nothing fetched or stored), how
    the service read the search (PubMed's translation), and every warning or error a service gave, verbatim. `ok` is
    false when a line erred or counts zero."""
    from .errors import ApiError, HttpError

    checked = []
    with open_client(settings) as client:
        for query in load_queries(settings.queries_dir):
            line = {"name": query.name, **{f"{name}_count": None for name, s in SOURCES.items() if s.count}, "counts": {},
                    "translations": {}, "warnings": [], "errors": [], "sources": [s.name for s in SOURCES.values() if s.applies(query)]}
            for source in (s for s in SOURCES.values() if s.applies(query) and s.count):
                try:
                    found = source.count(client, settings, query.params[source.name], query.name)
                except (HttpError, ApiError) as exc:
                    line["errors"].append(_said_by(source.label, exc))
                    continue
                line[f"{source.name}_count"] = line["counts"][source.name] = found.total
                if found.translation:
                    line["translations"][source.name] = found.translation
                line["warnings"].extend(f"{source.label} {w}" for w in found.warnings)
            line["warnings"] = line["errors"] + line["warnings"]  # every message a service gave, errors first
            counts = list(line["counts"].values())
            line["ok"] = not line["errors"] and bool(counts) and all(counts)
            checked.append(line)
    return checked


def _said_by(service: str, exc: Exception) -> str:
    """An error's text led by the service that gave it, once (the HTTP client's messages already name it)."""
    text = str(exc)
    return text if text.startswith(service) else f"{service}: {text}"


# -- search, show, export, claims ------------------------------------------------------------------

def check_line(store: Store, line: str | None) -> None:
    """A --line filter names a topic line this database knows; a typo is one clear line, not an empty answer."""
    if line is None:
        return
    known = select_line_names(store)
    if line not in known:
        hint = difflib.get_close_matches(line, known, n=1)
        raise TrackerError(f"no topic line named {line!r} in {store.path}" + (f"; did you mean {hint[0]!r}?" if hint else "")
                           + (f" (lines: {', '.join(known)})" if known else " (no line has matched a record yet)"))


def doctor(settings: Settings, *, thorough: bool) -> list[Finding]:
    """`tracker doctor`: the database's checks, read-only (nothing is created, migrated or written)."""
    from .store.health import examine

    return examine(settings.db_path, thorough=thorough)


def signals(settings: Settings, *, kind: str | None, line: str | None, include_resolved: bool) -> tuple[list[dict], bool]:
    """The signals asked for, and whether any trial is stored at all (no signal from an empty database is no news)."""
    with open_store(settings.db_path, create=False) as store:
        check_line(store, line)
        rows = select_signals(store, kind=kind, line=line, include_resolved=include_resolved)
        with_study(store, rows)
        return rows, select_any_trial(store)


def with_study(store: Store, rows: list[dict]) -> None:
    """Each trial signal names the study it belongs to when its registration is not the study's preferred one
    ("same study as NCT..."): a study's registrations keep their own signals (two registries, two duties), read as one."""
    trials = [(r["source"], r["record_id"]) for r in rows if r.get("record_kind") == "trial" and r.get("source") in SOURCES]
    studies = group_trials(store, list(dict.fromkeys(trials))) if trials else {}
    for row in rows:
        study = studies.get((row.get("source"), row["record_id"]))
        row["study"] = None
        if study and study.preferred != (row["source"], row["record_id"]):
            first = study.members[0]
            row["study"] = {"source": first["source"], "id": first["record_id"], "label": first["label"], "url": first["url"]}


def search(settings: Settings, text: str | None, *, source: str, f: RecordFilter, limit: int, raw: bool) -> LocalResult:
    with open_store(settings.db_path, create=False) as store:
        check_line(store, f.line)
        return search_local(store, text, source=source, f=f, limit=limit, raw=raw)


def search_services(settings: Settings, text: str, *, source: str, limit: int) -> list[LiveResult]:
    with open_client(settings) as client:
        return search_live(client, settings, text, source=source, limit=limit)


def show(settings: Settings, identifier: str) -> dict:
    classify_id(identifier)  # a malformed ID is refused before the database is touched
    with open_store(settings.db_path, create=False) as store:
        return show_record(store, identifier)


def export(settings: Settings, *, kind: str, fmt: str, f: RecordFilter, text: str | None, out: TextIO | None, output: Path | None,
           keep_formulas: bool = False, excel: bool = False) -> None:
    """Stream the chosen records to `output` (written whole, then renamed) or to the `out` stream."""
    from .export import FORMATS as EXPORT_FORMATS, RENDERERS, TRIAL_RENDERERS

    formats = EXPORT_FORMATS[TABLES[kind].kind]
    if fmt not in formats:
        raise TrackerError(f"{kind} can be exported as {', '.join(formats)}, not {fmt}")
    if TABLES[kind].kind == "publication" and f.trials_only:
        raise TrackerError("--status, --phase and --has-results apply to trials only")
    match = fts_query(text) if text else None
    with open_store(settings.db_path, create=False) as store:
        check_line(store, f.line)
        rows = select_export(store, kind=kind, f=f, match=match)
        renderers = TRIAL_RENDERERS if TABLES[kind].kind == "trial" else RENDERERS
        chunks = renderers[fmt](rows, keep_formulas=keep_formulas, excel=excel) if fmt == "csv" else renderers[fmt](rows)
        if output is None:
            for chunk in chunks:
                out.write(chunk)
            return
        tmp = output.with_name(output.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            for chunk in chunks:
                fh.write(chunk)
        tmp.replace(output)


def claims(settings: Settings, *, ids: tuple[str, ...], live: bool, claims_file: Path | None) -> tuple[list[ClaimResult], list[Path]]:
    from .claims import Context, check_claims, write_claims_report

    chosen = select_claims(load_claims(claims_file or settings.queries_dir / "claims.toml"), ids)
    now = utcnow()
    with open_store(settings.db_path) as store, open_client(settings) as client:
        results = check_claims(chosen, Context(store=store, settings=settings, client=client if live else None, now=now))
    return results, write_claims_report(results, settings.reports_dir, now=now)
