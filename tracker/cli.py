"""The `tracker` command: a click group. Parse options, open the store, call one function, print.
No HTTP and no SQL here."""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__
from .errors import ConfigError, TrackerError
from .http import HttpClient, redact
from .settings import Settings, load_queries, load_settings, select_queries

log = logging.getLogger("tracker")


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


class TrackerGroup(click.Group):
    """Turns every expected failure into one line and a non-zero exit, with secrets removed."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            raise click.ClickException(redact(str(exc), _secrets())) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, KeyboardInterrupt):
            raise
        except OSError as exc:
            raise click.ClickException(redact(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "), _secrets())) from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise click.ClickException("the database stayed busy for 30 s (another process is writing); try again") from None
            raise click.ClickException(f"database error: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise click.ClickException(f"database error: {exc} (the file may be damaged; PRAGMA integrity_check tells)") from None
        except Exception as exc:  # a bug: still one line, the traceback only on request
            if os.environ.get("TRACKER_DEBUG"):
                raise
            raise click.ClickException(
                redact(f"internal error: {type(exc).__name__}: {exc} (set TRACKER_DEBUG=1 for the traceback)", _secrets())
            ) from None


def _secrets() -> tuple[str, ...]:
    try:
        return load_settings().secrets
    except TrackerError:
        return tuple(v for v in (os.environ.get("NCBI_API_KEY"), os.environ.get("TRACKER_SMTP_PASSWORD")) if v)


def common_options(func: Callable) -> Callable:
    """--db, --queries, --reports and --quiet for every command; settings come from the environment first."""

    @click.option("--db", "db_path", type=click.Path(path_type=Path), help="SQLite database (default $TRACKER_DB or data/tracker.db).")
    @click.option("--queries", "queries_dir", type=click.Path(path_type=Path), help="Topic-line directory (default $TRACKER_QUERIES or queries).")
    @click.option("--reports", "reports_dir", type=click.Path(path_type=Path), help="Report directory (default $TRACKER_REPORTS or reports).")
    @click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors (for cron).")
    @functools.wraps(func)
    def wrapper(*args: Any, db_path: Path | None, queries_dir: Path | None, reports_dir: Path | None, quiet: bool, **kwargs: Any) -> Any:
        settings = load_settings().with_overrides(db_path=db_path, queries_dir=queries_dir, reports_dir=reports_dir)
        setup_logging(settings, quiet)
        return func(*args, settings=settings, quiet=quiet, **kwargs)

    return wrapper


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))


@click.group(cls=TrackerGroup)
@click.version_option(__version__, prog_name="tracker")
def cli() -> None:
    """Track clinical trials and publications on stem-cell approaches to hair loss.

    \b
    Example:
        tracker run              # update every topic line, then write the digest
    """


def _progress_factory(quiet: bool) -> Callable[[str, str], Callable[[int, int | None], None] | None]:
    def factory(query: str, source: str):
        if quiet or not sys.stderr.isatty():
            return None

        def progress(done: int, total: int | None) -> None:
            tail = f"/{total}" if total else ""
            click.echo(f"\r  {query} [{source}]: {done}{tail} records", nl=False, err=True)

        return progress

    return factory


def do_update(settings: Settings, *, sources: tuple[str, ...], names: tuple[str, ...], full: bool, quiet: bool, now: datetime):
    from .store import open_store
    from .update import run_update

    queries = select_queries(load_queries(settings.queries_dir), names)
    if "pubmed" in sources and not settings.ncbi_email and not quiet:
        click.echo("note: NCBI_EMAIL is not set; NCBI asks for a contact address with every E-utilities request.", err=True)
    store = open_store(settings.db_path)
    tty = sys.stderr.isatty() and not quiet

    def on_line(line) -> None:
        if tty:
            click.echo("\r\033[K", nl=False, err=True)
        if not quiet or not line.ok:
            click.echo(line.summary(), err=not line.ok)

    try:
        with HttpClient(settings) as client:
            return run_update(
                store, client, settings, queries, sources=sources, now=now, full=full, on_line=on_line, progress_for=_progress_factory(quiet)
            )
    finally:
        store.close()


def failure_line(results) -> str | None:
    failed = [r for r in results if not r.ok]
    if not failed:
        return None
    first = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    return f"{len(failed)} of {len(results)} updates failed; first: {first.query} [{first.source}]: {first.error}{more}"


@cli.command()
@click.option("--source", "sources", type=click.Choice(["ctgov", "pubmed"]), multiple=True, help="Only this source (repeatable; default both).")
@click.option("--query", "names", multiple=True, help="Only this topic line (repeatable).")
@click.option("--full", is_flag=True, help="Ignore the saved cursors and fetch everything again.")
@common_options
def update(settings: Settings, quiet: bool, sources: tuple[str, ...], names: tuple[str, ...], full: bool) -> None:
    """Fetch new and changed records for every topic line into the database.

    \b
    Example:
        tracker update --source ctgov --query aga-cell-therapy
    """
    from .update import SOURCES

    results = do_update(settings, sources=sources or SOURCES, names=names, full=full, quiet=quiet, now=utcnow())
    problem = failure_line(results)
    if problem:
        raise TrackerError(problem)


@cli.command()
@json_option
@common_options
def queries(settings: Settings, quiet: bool, as_json: bool) -> None:
    """List and validate the topic lines; a malformed file is named with its problem.

    \b
    Example:
        tracker queries --json
    """
    lines = load_queries(settings.queries_dir)
    if as_json:
        echo_json([{"name": q.name, "title": q.title, "description": q.description, "ctgov": q.ctgov, "pubmed": q.pubmed_term, "path": q.path} for q in lines])
        return
    for q in lines:
        sources = ", ".join(s for s, on in (("ClinicalTrials.gov", q.ctgov), ("PubMed", q.pubmed_term)) if on)
        click.echo(f"{q.name:28} {q.title}  [{sources}]")
    if not quiet:
        click.echo(f"{len(lines)} topic lines in {settings.queries_dir}, all valid.")


def main() -> None:  # pragma: no cover
    cli()


FORMATS = ("md", "html", "atom")


def do_digest(settings: Settings, *, now: datetime, since: str | None, until: str | None, formats: tuple[str, ...], email: bool):
    from .claims import select_claim_flips
    from .digest import build_digest, digest_window, render_html, render_markdown, send_digest, write_digest
    from .store import open_store

    queries = load_queries(settings.queries_dir)
    store = open_store(settings.db_path)
    try:
        start, end = digest_window(store, now=now, since=since, until=until)
        flips = select_claim_flips(store, start, end, settings.queries_dir / "claims.toml")
        digest = build_digest(store, queries, start=start, end=end, claim_flips=flips)
        paths = write_digest(store, digest, settings.reports_dir, formats=formats, now=now)
    finally:
        store.close()
    sent_to = send_digest(settings, digest, render_html(digest), render_markdown(digest)) if email else None
    return digest, paths, sent_to


def _date_option(name: str, help_text: str) -> Callable:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a date of the form YYYY-MM-DD") from None

    return click.option(name, callback=check, metavar="YYYY-MM-DD", help=help_text)


def digest_options(func: Callable) -> Callable:
    func = click.option("--email", is_flag=True, help="Also e-mail the HTML digest (TRACKER_SMTP_* settings).")(func)
    func = click.option(
        "--format", "formats", type=click.Choice([*FORMATS, "all"]), multiple=True, help="md, html, atom or all (default all; repeatable)."
    )(func)
    return func


def _formats(chosen: tuple[str, ...]) -> tuple[str, ...]:
    return FORMATS if not chosen or "all" in chosen else chosen


def _report_digest(digest, paths, sent_to, quiet: bool) -> None:
    if quiet:
        return
    click.echo(digest.summary)
    for path in paths:
        click.echo(f"wrote {path}")
    if sent_to:
        click.echo(f"e-mailed to {sent_to}")


@cli.command()
@_date_option("--since", "Window start (default: the end of the previous digest).")
@_date_option("--until", "Window end, exclusive (default: now).")
@digest_options
@common_options
def digest(settings: Settings, quiet: bool, since: str | None, until: str | None, formats: tuple[str, ...], email: bool) -> None:
    """Write the digest of new trials, changed trials and new publications.

    \b
    Example:
        tracker digest --since 2026-11-16 --until 2026-11-23 --format all
    """
    result = do_digest(settings, now=utcnow(), since=since, until=until, formats=_formats(formats), email=email)
    _report_digest(*result, quiet=quiet)


@cli.command()
@click.option("--full", is_flag=True, help="Ignore the saved cursors and fetch everything again.")
@digest_options
@common_options
def run(settings: Settings, quiet: bool, full: bool, formats: tuple[str, ...], email: bool) -> None:
    """Update every topic line of both sources, then write the digest (the main job).

    When a source fails, the digest is still written from what is stored, says what failed, and the exit is non-zero.

    \b
    Example:
        tracker run --quiet
    """
    from .update import SOURCES

    now = utcnow()
    results = do_update(settings, sources=SOURCES, names=(), full=full, quiet=quiet, now=now)
    # the window end is exclusive and records carry the update's start time: end one second later at least
    result = do_digest(settings, now=max(utcnow(), now + timedelta(seconds=1)), since=None, until=None, formats=_formats(formats), email=email)
    _report_digest(*result, quiet=quiet)
    problem = failure_line(results)
    if problem:
        raise TrackerError(problem)


def scheduled_jobs(settings: Settings) -> list[tuple[str, str, Callable[[], object]]]:
    def update_job() -> None:
        from .update import SOURCES

        results = do_update(settings, sources=SOURCES, names=(), full=False, quiet=True, now=utcnow())
        problem = failure_line(results)
        if problem:
            raise TrackerError(problem)

    def digest_job() -> None:
        do_digest(settings, now=utcnow(), since=None, until=None, formats=FORMATS, email=bool(settings.smtp.get("host")))

    return [("update", settings.update_cron, update_job), ("digest", settings.digest_cron, digest_job)]


@cli.command()
@click.option("--update-cron", help="Cron expression for the update (default $TRACKER_UPDATE_CRON or '0 6 * * *').")
@click.option("--digest-cron", help="Cron expression for the digest (default $TRACKER_DIGEST_CRON or '0 7 * * mon').")
@click.option("--timezone", help="Time zone of the cron expressions (default $TRACKER_TIMEZONE or UTC).")
@common_options
def schedule(settings: Settings, quiet: bool, update_cron: str | None, digest_cron: str | None, timezone: str | None) -> None:
    """Run the update daily and the digest weekly until stopped (SIGINT or SIGTERM).

    \b
    Example:
        TRACKER_DIGEST_CRON='0 7 * * 1' tracker schedule
    """
    from .schedule import build_scheduler, next_runs, run_forever

    settings = settings.with_overrides(update_cron=update_cron, digest_cron=digest_cron, timezone=timezone)
    load_queries(settings.queries_dir)  # refuse to start on a malformed topic line
    jobs = scheduled_jobs(settings)

    def announce() -> None:
        for job_id, when in next_runs(jobs, timezone=settings.timezone, now=utcnow()):
            click.echo(f"{job_id}: next run {when.isoformat() if when else 'never'}")

    run_forever(build_scheduler(jobs, timezone=settings.timezone), announce)
    click.echo("scheduler stopped")


STATUSES = (
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING", "RECRUITING", "SUSPENDED",
    "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING",
    "WITHHELD", "UNKNOWN",
)
PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")


def _norm_status(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for value in values:
        norm = value.strip().upper().replace(" ", "_").replace(",", "")
        if norm not in STATUSES:
            raise click.BadParameter(f"{value!r} is not a ClinicalTrials.gov status ({', '.join(STATUSES)})")
        out.append(norm)
    return tuple(out)


def _norm_phase(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for value in values:
        norm = value.strip().upper().replace(" ", "")
        norm = {"1": "PHASE1", "2": "PHASE2", "3": "PHASE3", "4": "PHASE4", "0": "EARLY_PHASE1", "N/A": "NA"}.get(norm, norm)
        if norm not in PHASES:
            raise click.BadParameter(f"{value!r} is not a phase ({', '.join(PHASES)}, or 1-4)")
        out.append(norm)
    return tuple(out)


def filter_options(func: Callable) -> Callable:
    """The filters search and export share."""
    for decorator in reversed(
        (
            click.option("--status", multiple=True, callback=_norm_status, help="Trial status, e.g. RECRUITING (repeatable)."),
            click.option("--phase", multiple=True, callback=_norm_phase, help="Trial phase: 1-4, PHASE3, NA (repeatable)."),
            click.option("--line", help="Only records matched by this topic line."),
            _date_option("--since", "Trials starting / papers published on or after this date."),
            _date_option("--until", "... and before this date."),
            click.option("--has-results", is_flag=True, help="Only trials with posted results."),
        )
    ):
        func = decorator(func)
    return func


def _record_filter(status, phase, line, since, until, has_results):
    from .store import RecordFilter

    return RecordFilter(status=status, phase=phase, line=line, since=since, until=until, has_results=has_results)


def _print_hits(hits, *, as_json: bool, as_csv: bool) -> None:
    if as_json:
        echo_json([h.as_dict() for h in hits])
        return
    if as_csv:
        import csv as _csv

        writer = _csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(["kind", "id", "date", "title", "detail", "snippet", "url"])
        for h in hits:
            writer.writerow([h.kind, h.id, h.date or "", h.title, h.detail, h.snippet, h.url])
        return
    for h in hits:
        click.echo(f"{h.kind:11} {h.id:12} {(h.date or '')[:10]:10}  {_one_line(h.title, 90)}")
        click.echo(f"{'':36}{_one_line(h.detail, 80)}")
        if h.snippet:
            click.echo(f"{'':36}{_one_line(h.snippet, 100)}")


def _one_line(text: str, width: int) -> str:
    from .digest import clean_text

    text = " ".join(clean_text(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


@cli.command()
@click.argument("text")
@click.option("--source", type=click.Choice(["all", "trials", "publications"]), default="all", show_default=True)
@filter_options
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--raw", is_flag=True, help="TEXT is an FTS5 expression (AND, OR, NOT, NEAR, prefix*).")
@click.option("--live", is_flag=True, help="Ask ClinicalTrials.gov and PubMed directly instead of the database (nothing is stored).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@json_option
@common_options
def search(settings: Settings, quiet: bool, text: str, source: str, status, phase, line, since, until, has_results, limit: int, raw: bool, live: bool, as_csv: bool, as_json: bool) -> None:
    """Search stored trials and publications (stemmed, ranked, with highlighted snippets).

    \b
    Example:
        tracker search "dermal papilla transplant" --source trials --status RECRUITING
        tracker search --raw 'exosom* NEAR(alopecia, 5)'
        tracker search --live "hair follicle organoid"
    """
    from .search import search_live, search_local
    from .store import SEARCH_WINDOW

    if live:
        with HttpClient(settings) as client:
            results = search_live(client, settings, text, source=source, limit=min(limit, 100))
        if as_json:
            echo_json([{"source": r.source, "total": r.total, "hits": [h.as_dict() for h in r.hits]} for r in results])
            return
        for r in results:
            if not as_csv:
                click.echo(f"{r.source}: {r.total:,} in all; the first {len(r.hits)}:")
            _print_hits(r.hits, as_json=False, as_csv=as_csv)
        return
    from .store import open_store

    store = open_store(settings.db_path)
    try:
        found = search_local(store, text, source=source, f=_record_filter(status, phase, line, since, until, has_results), limit=limit, raw=raw)
    finally:
        store.close()
    _print_hits(found.hits, as_json=as_json, as_csv=as_csv)
    if not found.hits and not (as_json or as_csv):
        click.echo("no stored record matches; try --live to ask ClinicalTrials.gov and PubMed", err=True)
    for kind in found.windowed:
        click.echo(
            f"note: more than {SEARCH_WINDOW:,} {kind} match; these are the best of the {SEARCH_WINDOW:,} most recently stored. "
            "Add words or filters to narrow the search.",
            err=True,
        )


@cli.command()
@click.argument("identifier")
@json_option
@common_options
def show(settings: Settings, quiet: bool, identifier: str, as_json: bool) -> None:
    """Show one trial (NCT number) or publication (PMID or DOI): the record, its changes, links and lines.

    \b
    Example:
        tracker show NCT02503852
        tracker show 10.1038/ncomms4071
    """
    from .search import classify_id, show_record
    from .store import open_store

    classify_id(identifier)  # a malformed ID is refused before the database is touched
    store = open_store(settings.db_path)
    try:
        shown = show_record(store, identifier)
    finally:
        store.close()
    if as_json:
        echo_json(shown)
        return
    record = shown["record"]
    click.echo(f"{shown['id']}: {_one_line(record.get('title') or '', 200)}")
    for key, value in record.items():
        if key in ("title",) or value in (None, "", []):
            continue
        if isinstance(value, list):
            value = "; ".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in value)
        click.echo(f"  {key:28} {_one_line(str(value), 160)}")
    click.echo("Changes:" if shown["changes"] else "Changes: none recorded")
    for c in shown["changes"]:
        click.echo(f"  {c['detected_at']}  {c['field']}: {c['old_value'] or 'none'} -> {c['new_value'] or 'none'}")
    click.echo("Links:" if shown["links"] else "Links: none")
    for link in shown["links"]:
        other = link["pmid"] if shown["kind"] == "trial" else link["nct_id"]
        kind = link["source"] + (f" ({link['reference_type']})" if link.get("reference_type") else "")
        click.echo(f"  {other:12} via {kind}: {_one_line(link.get('title') or '(not stored)', 100)}")
    lines = ", ".join(f"{m['query']} (since {m['first_seen_at'][:10]})" for m in shown["lines"]) or "none"
    click.echo(f"Topic lines: {lines}")


@cli.command()
@click.argument("kind", type=click.Choice(["trials", "publications"]))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "ris", "bibtex"]), default="csv", show_default=True)
@click.option("--search", "text", help="Only records matching this text (as in `tracker search`).")
@filter_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@common_options
def export(settings: Settings, quiet: bool, kind: str, fmt: str, text: str | None, status, phase, line, since, until, has_results, output: Path | None) -> None:
    """Export trials (CSV, JSON) or publications (CSV, JSON, RIS, BibTeX) with the search filters.

    \b
    Example:
        tracker export publications --format ris --line hfsc-ageing -o hfsc.ris
    """
    from .export import FORMATS as EXPORT_FORMATS, RENDERERS
    from .search import fts_query
    from .store import open_store, select_export

    if fmt not in EXPORT_FORMATS[kind]:
        raise TrackerError(f"{kind} can be exported as {', '.join(EXPORT_FORMATS[kind])}, not {fmt}")
    f = _record_filter(status, phase, line, since, until, has_results)
    if kind == "publications" and f.trials_only:
        raise TrackerError("--status, --phase and --has-results apply to trials only")
    match = fts_query(text) if text else None
    store = open_store(settings.db_path)
    try:
        chunks = RENDERERS[fmt](select_export(store, kind=kind, f=f, match=match))
        if output:
            tmp = output.with_name(output.name + ".tmp")
            with open(tmp, "w", encoding="utf-8", newline="") as fh:
                for chunk in chunks:
                    fh.write(chunk)
            tmp.replace(output)
            if not quiet:
                click.echo(f"wrote {output}", err=True)
        else:
            stream = sys.stdout
            for chunk in chunks:
                stream.write(chunk)
    finally:
        store.close()


@cli.command()
@click.option("--claim", "ids", multiple=True, help="Only this claim (repeatable), e.g. C2.")
@click.option("--live/--offline", default=True, show_default=True, help="Also ask the APIs, or use the database only.")
@click.option("--claims-file", type=click.Path(dir_okay=False, path_type=Path), help="Default: claims.toml in the query directory.")
@json_option
@common_options
def claims(settings: Settings, quiet: bool, ids: tuple[str, ...], live: bool, claims_file: Path | None, as_json: bool) -> None:
    """Check whether the article's claims are still current: CURRENT, OUTDATED or REVIEW, with the evidence.

    \b
    Example:
        tracker claims --claim C2 --offline
    """
    from .claims import Context, check_claims, load_claims, select_claims
    from .reports import write_claims_report
    from .store import open_store

    path = claims_file or settings.queries_dir / "claims.toml"
    chosen = select_claims(load_claims(path), ids)
    now = utcnow()
    store = open_store(settings.db_path)
    try:
        with HttpClient(settings) as client:
            results = check_claims(chosen, Context(store=store, settings=settings, client=client if live else None, now=now))
    finally:
        store.close()
    paths = write_claims_report(results, settings.reports_dir, now=now)
    if as_json:
        echo_json([r.as_dict() for r in results])
        return
    for r in results:
        click.echo(f"{r.claim.id}  {r.verdict:8}  {_one_line(r.claim.wording, 100)}")
        click.echo(f"    {r.summary}")
        for e in r.evidence[:10]:
            label = e.get("id") or e.get("value")
            click.echo(f"    - {e.get('role', e['type'])}: {label} {_one_line(e.get('title') or '', 90)} {e.get('url') or ''}".rstrip())
        if len(r.evidence) > 10:
            click.echo(f"    ... and {len(r.evidence) - 10} more (see the report or --json)")
        click.echo(f"    checked {r.checked_at} ({r.mode}); {r.since_last}")
    if not quiet:
        for path in paths:
            click.echo(f"wrote {path}")
