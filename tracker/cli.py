"""The `tracker` command: a click group. Each command parses its options, calls one use case in jobs.py and hands
the result to console.py. No HTTP and no SQL here."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import click

from . import __version__, console, jobs
from .errors import TrackerError
from .http import redact
from .settings import Settings, load_settings
from .rules import KINDS as SIGNAL_KINDS
from .sources import SOURCES
from .search import SEARCH_SOURCES
from .store import RecordFilter, damage, damaged, environment_problem, undecodable
from .topics import load_queries
from .vocabulary import COMMON_STATUSES, PHASES


class TrackerGroup(click.Group):
    """Turns every expected failure into one line and a non-zero exit, with secrets removed."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as exc:
            raise click.ClickException(redact(str(exc), _secrets())) from None
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (turned into one below): what was running is recorded as such
            _stop_writing_if_closed()
            click.echo("interrupted: a run in progress is recorded as interrupted and nothing half-written is kept; "
                       "the next update fetches its window again", err=True)
            ctx.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            _stop_writing()
            ctx.exit(141)  # the reader stopped reading (`tracker export ... | head`): end quietly, as a shell tool does on SIGPIPE
        except OSError as exc:
            raise click.ClickException(redact(f"{exc.strerror or exc}: {exc.filename or ''}".strip(": "), _secrets())) from None
        except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
            raise click.ClickException(_database_failure(exc, ctx.find_object(Settings))) from None
        except Exception as exc:  # a bug: still one line, the traceback only on request
            if os.environ.get("TRACKER_DEBUG"):
                raise
            raise click.ClickException(
                redact(f"internal error: {type(exc).__name__}: {exc} (set TRACKER_DEBUG=1 for the traceback)", _secrets())
            ) from None


def _database_failure(exc: BaseException, settings: Settings | None) -> str:
    """One line for an SQLite error that reached the command: the disk or a limit; a busy database; a damaged one
    (quick_check asked when the error could be damage, text that is not UTF-8 said without its bytes); else the
    error itself."""
    path = settings.db_path if settings else "the database"
    if isinstance(exc, sqlite3.OperationalError) and (problem := environment_problem(exc, path)):
        return problem
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return "the database stayed busy for 30 s (another process is writing); try again"
    found = damage(path) if settings else None
    what = found or undecodable(exc)
    if what:
        return str(damaged(path, what))
    return f"database error: {' '.join(str(exc).split())[:300]}"


def _stop_writing() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file behind stdout (a test runner's capture): nothing to flush into a pipe
        pass


def _secrets() -> tuple[str, ...]:
    try:
        return load_settings().secrets
    except TrackerError:
        return tuple(v for v in (os.environ.get("NCBI_API_KEY"), os.environ.get("TRACKER_SMTP_PASSWORD")) if v)


# -- shared options --------------------------------------------------------------------------------

def common_options(func: Callable) -> Callable:
    """--db, --queries, --reports and --quiet for every command; settings come from the environment first."""

    @click.option("--db", "db_path", type=click.Path(path_type=Path), help="SQLite database (default $TRACKER_DB or data/tracker.db).")
    @click.option("--queries", "queries_dir", type=click.Path(path_type=Path), help="Topic-line directory (default $TRACKER_QUERIES or queries).")
    @click.option("--reports", "reports_dir", type=click.Path(path_type=Path), help="Report directory (default $TRACKER_REPORTS or reports).")
    @click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors (for cron).")
    @functools.wraps(func)
    def wrapper(*args: Any, db_path: Path | None, queries_dir: Path | None, reports_dir: Path | None, quiet: bool, **kwargs: Any) -> Any:
        settings = load_settings().with_overrides(db_path=db_path, queries_dir=queries_dir, reports_dir=reports_dir)
        click.get_current_context().find_root().obj = settings  # the group's error handler names the database a failure concerns
        console.setup_logging(settings, quiet)
        return func(*args, settings=settings, quiet=quiet, **kwargs)

    return wrapper


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def date_option(name: str, help_text: str) -> Callable:
    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a calendar date of the form YYYY-MM-DD") from None

    return click.option(name, callback=check, metavar="YYYY-MM-DD", help=help_text)


def digest_options(func: Callable) -> Callable:
    func = click.option("--email", is_flag=True, help="Also e-mail the HTML digest (TRACKER_SMTP_* settings).")(func)
    func = click.option(
        "--format", "formats", type=click.Choice([*jobs.DIGEST_FORMATS, "all"]), multiple=True,
        help="md, html, atom or all (default all; repeatable).",
    )(func)
    return func


def _formats(chosen: tuple[str, ...]) -> tuple[str, ...]:
    return jobs.DIGEST_FORMATS if not chosen or "all" in chosen else chosen


def _norm_status(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for value in values:
        norm = value.strip().upper().replace(" ", "_").replace(",", "")
        if norm not in COMMON_STATUSES:
            raise click.BadParameter(f"{value!r} is not a trial status ({', '.join(COMMON_STATUSES)})")
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
    """The filters search and export share; the command receives them as one RecordFilter named `f`."""

    @click.option("--status", multiple=True, callback=_norm_status, help="Trial status, e.g. RECRUITING (repeatable).")
    @click.option("--phase", multiple=True, callback=_norm_phase, help="Trial phase: 1-4, PHASE3, NA (repeatable).")
    @click.option("--line", help="Only records matched by this topic line.")
    @date_option("--since", "Trials starting / papers published on or after this date.")
    @date_option("--until", "... and before this date.")
    @click.option("--has-results", is_flag=True, help="Only trials with posted results.")
    @click.option("--signal", type=click.Choice(SIGNAL_KINDS), help="Only records with an open evidence signal of this kind.")
    @functools.wraps(func)
    def wrapper(*args: Any, status, phase, line, since, until, has_results, signal, **kwargs: Any) -> Any:
        f = RecordFilter(status=status, phase=phase, line=line, since=since, until=until, has_results=has_results, signal=signal)
        return func(*args, f=f, **kwargs)

    return wrapper


def _stop_writing_if_closed() -> None:
    """Nothing more to say when the terminal is gone."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (a service manager stopping the tracker, `kill`) ends a command as Ctrl-C does: the run in progress is
    marked failed, its transaction rolled back, one line said."""
    raise KeyboardInterrupt


def _fail_on(results) -> None:
    problem = jobs.failure_line(results)
    if problem:
        raise TrackerError(problem)


EXPORT_TABLES = [s.shape.table for s in SOURCES.values()]  # trials, ctis_trials, isrctn_trials, ictrp_trials, publications


# -- commands --------------------------------------------------------------------------------------

@click.group(cls=TrackerGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracker")
def cli() -> None:
    """Track clinical trials and publications on stem-cell approaches to hair loss.

    \b
    Example:
        tracker run              # update every topic line, then write the digest
    """
    try:
        signal.signal(signal.SIGTERM, _terminate)  # `tracker schedule` puts its own in place: it stops the scheduler
    except ValueError:  # not the main thread (an embedding program's worker): its owner handles signals
        pass


@cli.command()
@click.option("--source", "sources", type=click.Choice([n for n, s in SOURCES.items() if s.fetch]), multiple=True,
              help="Only this source (repeatable; default all).")
@click.option("--query", "names", multiple=True, help="Only this topic line (repeatable).")
@click.option("--full", is_flag=True, help="Ignore the saved cursors and fetch everything again.")
@click.option("--sweep", is_flag=True, help="Re-check every stored trial against the registry now (due every $TRACKER_SWEEP_DAYS days anyway).")
@common_options
def update(settings: Settings, quiet: bool, sources: tuple[str, ...], names: tuple[str, ...], full: bool, sweep: bool) -> None:
    """Fetch new and changed records for every topic line into the database, then recompute the evidence signals.

    \b
    Example:
        tracker update --source ctgov --query aga-cell-therapy
        tracker update --sweep        # also ask the registry about every stored trial now
    """
    sources = sources or tuple(n for n, s in SOURCES.items() if s.fetch)
    swept = [SOURCES[name] for name in sources if SOURCES[name].presence or SOURCES[name].revisit]
    if sweep and not swept:
        registries = " or ".join(s.label for s in SOURCES.values() if s.presence or s.revisit)
        raise TrackerError(f"--sweep asks {registries}; it cannot be combined with --source {', '.join(sources)} alone")
    console.note_missing_email(settings, sources, quiet)
    _fail_on(jobs.update(settings, sources=sources, names=names, full=full, sweep=sweep, now=jobs.utcnow(),
                         on_line=console.line_printer(quiet), progress_for=console.progress_for(quiet)))


@cli.command()
@click.option("--thorough", is_flag=True, help="SQLite's integrity_check (every index against its table) instead of quick_check.")
@json_option
@common_options
def doctor(settings: Settings, quiet: bool, thorough: bool, as_json: bool) -> None:
    """Check the database without writing to it: its schema against this version, SQLite's integrity check, every
    stored text as UTF-8, runs left unfinished. Exits 1 when it finds a problem, saying how to recover.

    \b
    Example:
        tracker doctor
        tracker doctor --thorough --db archive/tracker-2026.db
    """
    findings = jobs.doctor(settings, thorough=thorough)
    console.print_findings(findings, as_json=as_json)
    failed = [f for f in findings if not f.ok]
    if failed and all(f.check == "schema" for f in failed):
        raise TrackerError(f"the database {settings.db_path} cannot be used by this version (above)")
    if failed:
        raise TrackerError(f"the database {settings.db_path} is damaged (above). Restore a backup, or recover what it holds with "
                           f"`sqlite3 {settings.db_path} .recover | sqlite3 recovered.db` and point TRACKER_DB at recovered.db")


@cli.command()
@click.option("--live", is_flag=True, help="Also ask both services what each line brings back today (counts only; nothing stored).")
@json_option
@common_options
def queries(settings: Settings, quiet: bool, live: bool, as_json: bool) -> None:
    """List and validate the topic lines; a malformed file is named with its problem.

    With --live, each line's count at ClinicalTrials.gov and PubMed, PubMed's translation of the term, and the
    services' warnings and errors verbatim; the exit is non-zero when a line errs or counts zero.

    \b
    Example:
        tracker queries --json
        tracker queries --live
    """
    lines = load_queries(settings.queries_dir)
    if not live:
        console.print_queries(lines, settings.queries_dir, as_json=as_json, quiet=quiet)
        return
    checked = jobs.check_lines_live(settings)
    console.print_live_lines(checked, as_json=as_json)
    bad = [c["name"] for c in checked if not c["ok"]]
    if bad:
        raise TrackerError(f"{len(bad)} of {len(checked)} topic lines erred or found nothing: {', '.join(bad)}")


@cli.command()
@date_option("--since", "Window start (default: the end of the previous digest).")
@date_option("--until", "Window end, exclusive (default: now).")
@digest_options
@common_options
def digest(settings: Settings, quiet: bool, since: str | None, until: str | None, formats: tuple[str, ...], email: bool) -> None:
    """Write the digest of new trials, changed trials and new publications.

    \b
    Example:
        tracker digest --since 2026-11-16 --until 2026-11-23 --format all
    """
    outcome = jobs.digest(settings, now=jobs.utcnow(), since=since, until=until, formats=_formats(formats), email=email)
    console.print_digest(outcome, quiet)


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
    console.note_missing_email(settings, tuple(SOURCES), quiet)
    results, outcome = jobs.run(settings, full=full, formats=_formats(formats), email=email,
                                on_line=console.line_printer(quiet), progress_for=console.progress_for(quiet))
    console.print_digest(outcome, quiet)
    _fail_on(results)


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
    # APScheduler (and asyncio beneath it) is loaded by this command alone: a sixth of every other command's start-up
    from .schedule import build_scheduler, next_runs, run_forever

    settings = settings.with_overrides(update_cron=update_cron, digest_cron=digest_cron, timezone=timezone)
    load_queries(settings.queries_dir)  # refuse to start on a malformed topic line
    scheduled = jobs.scheduled_jobs(settings)

    def announce() -> None:
        for job_id, when in next_runs(scheduled, timezone=settings.timezone, now=jobs.utcnow()):
            click.echo(f"{job_id}: next run {when.isoformat() if when else 'never'}")

    run_forever(build_scheduler(scheduled, timezone=settings.timezone, secrets=settings.secrets), announce)
    click.echo("scheduler stopped")


@cli.command()
@click.argument("words", nargs=-1, metavar="[TEXT]...")
@click.option("--source", type=click.Choice(SEARCH_SOURCES), default="all", show_default=True,
              help="trials (every registry), publications, or one source by name (ctgov, ctis, isrctn, ictrp, pubmed).")
@filter_options
@click.option("--limit", type=click.IntRange(1, 100_000), default=20, show_default=True)
@click.option("--raw", is_flag=True, help="TEXT is an FTS5 expression (AND, OR, NOT, NEAR, prefix*).")
@click.option("--live", is_flag=True, help="Ask ClinicalTrials.gov and PubMed directly instead of the database (nothing is stored).")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@json_option
@common_options
def search(settings: Settings, quiet: bool, words: tuple[str, ...], source: str, f: RecordFilter, limit: int, raw: bool, live: bool, as_csv: bool, as_json: bool) -> None:
    """Search stored trials and publications (stemmed, ranked, with highlighted snippets).
    Without TEXT, list the records the filters select, newest first. Several words without quotes are one text.

    \b
    Example:
        tracker search --line hfsc-ageing --source publications
        tracker search "dermal papilla transplant" --source trials --status RECRUITING
        tracker search --raw 'exosom* NEAR(alopecia, 5)'
        tracker search --live "hair follicle organoid"
    """
    text = " ".join(words) if words else None  # `tracker search stem cell` as a person types it
    if live:
        results = jobs.search_services(settings, text or "", source=source, limit=min(limit, 100))
        console.print_live_search(results, as_json=as_json, as_csv=as_csv)
        return
    found = jobs.search(settings, text, source=source, f=f, limit=limit, raw=raw)
    console.print_local_search(found, as_json=as_json, as_csv=as_csv)


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
    console.print_record(jobs.show(settings, identifier), as_json=as_json)


@cli.command()
@click.argument("kind", type=click.Choice(EXPORT_TABLES))
@click.option("--format", "fmt", type=click.Choice(["csv", "json", "csljson", "ris", "bibtex"]), default="csv", show_default=True)
@click.option("--search", "text", help="Only records matching this text (as in `tracker search`).")
@filter_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to this file instead of stdout.")
@click.option("--keep-formulas", is_flag=True, help="CSV: write cells beginning =, +, - or @ as they are (by default a ' keeps a spreadsheet from running them).")
@click.option("--excel", is_flag=True, help="CSV for Excel: a UTF-8 byte-order mark and CRLF line ends, so accents read as written.")
@common_options
def export(settings: Settings, quiet: bool, kind: str, fmt: str, text: str | None, f: RecordFilter, output: Path | None,
           keep_formulas: bool, excel: bool) -> None:
    """Export trials (CSV, JSON, CSL-JSON, RIS) or publications (CSV, JSON, CSL-JSON, RIS, BibTeX) with the search filters.

    \b
    Example:
        tracker export publications --format ris --line hfsc-ageing -o hfsc.ris
    """
    jobs.export(settings, kind=kind, fmt=fmt, f=f, text=text, out=sys.stdout, output=output, keep_formulas=keep_formulas, excel=excel)
    if output and not quiet:
        click.echo(f"wrote {output}", err=True)


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
    results, paths = jobs.claims(settings, ids=ids, live=live, claims_file=claims_file)
    console.print_claims(results, paths, as_json=as_json, quiet=quiet)


@cli.group(name="import", cls=TrackerGroup)
def import_group() -> None:
    """Save records downloaded from a service that has no API the tracker can ask.

    \b
    Example:
        tracker import ictrp ICTRP-Results.xml --line aga-cell-therapy
    """


@import_group.command(name="ictrp")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--line", help="The topic line the export was searched for (default: the only one configured).")
@common_options
def import_ictrp(settings: Settings, quiet: bool, file: Path, line: str | None) -> None:
    """Import a WHO ICTRP portal export (XML): the way to jRCT, UMIN, ChiCTR, IRCT, CTRI, DRKS, ANZCTR, CRiS.

    Download it from https://trialsearch.who.int: search, then "Export results to XML". Each trial is kept as a
    record of its own registry; importing the same or a newer export again records only what changed, and never
    replaces what ClinicalTrials.gov, CTIS or ISRCTN gave for the same trial.
    """
    result = jobs.import_file(settings, "ictrp", file, line=line, now=jobs.utcnow())
    console.print_import(result, quiet=quiet)


@cli.command()
@click.option("--kind", type=click.Choice(SIGNAL_KINDS), help="Only this kind of signal.")
@click.option("--line", help="Only records of this topic line.")
@click.option("--all", "include_resolved", is_flag=True, help="Resolved signals too, with when they resolved.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@json_option
@common_options
def signals(settings: Settings, quiet: bool, kind: str | None, line: str | None, include_resolved: bool, as_csv: bool, as_json: bool) -> None:
    """List what needs attention: overdue results, slipped completion, stale status, removed and retracted records.

    Most serious first. Signals are recomputed by every `tracker update`.

    \b
    Example:
        tracker signals --kind results_overdue
        tracker signals --all --json
    """
    rows, stored = jobs.signals(settings, kind=kind, line=line, include_resolved=include_resolved)
    console.print_signals(rows, as_json=as_json, as_csv=as_csv, nothing_stored=not stored)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on (0.0.0.0 exposes it to the network).")
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True)
@common_options
def serve(settings: Settings, quiet: bool, host: str, port: int) -> None:
    """Browse the database in Datasette, read-only: facets, search, canned queries.

    \b
    Example:
        tracker serve
        tracker serve --port 8080
    Then open http://127.0.0.1:8001/tracker (canned queries: recruiting_now, results_overdue, ...).
    """
    from . import serve as serving  # Datasette takes half a second to import: only this command pays it

    app = serving.datasette_app(settings.db_path)
    sock = serving.listen(host, port)
    if not quiet:
        click.echo(f"Serving {settings.db_path} read-only at http://{host}:{port}/{serving.DATABASE} (Ctrl-C stops)")
    serving.run(app, sock)
