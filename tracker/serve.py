"""`tracker serve`: the database in a browser through Datasette, read-only, with the metadata a reader needs (what
each table and column holds, where the data come from and on what terms), facets, readable list columns, search
over plain text and the canned queries people ask for. Everything Datasette is told lives here."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import quote

import uvicorn
from datasette import hookimpl
from datasette.app import Datasette
from datasette.database import Database
from datasette.plugins import pm
from datasette.utils import tilde_encode, urlsafe_components
from markupsafe import Markup, escape

from .errors import TrackerError
from .identifiers import recognise
from .labels import SIGNAL_LABELS, date_label, phase_label, status_label, time_label
from .search import show_record
from .settings import SERVE_DATABASE as DATABASE
from .sources import SOURCES
from .store import CACHE_KIB, JSON_COLUMNS, Store, open_store
from .store import RAW_COLUMNS as RAW_PAYLOADS

STATIC = Path(__file__).parent / "static"  # served at /tracker-assets/: the pages' own CSS

CTGOV_TERMS = "https://clinicaltrials.gov/about-site/terms-conditions"
NLM_TERMS = "https://www.nlm.nih.gov/web_policies.html#copyright"

LIST_COLUMNS = JSON_COLUMNS  # kept as JSON lists; shown on the pages as "a; b"
RAW_COLUMNS = frozenset(RAW_PAYLOADS) - {"raw_hash"}  # the API's own answer, kept for back-fills: too long for a page

TRIAL_COLUMNS = {
    "nct_id": "ClinicalTrials.gov identifier (NCT number).",
    "title": "Brief title as registered.",
    "official_title": "Official title as registered.",
    "acronym": "Study acronym, when registered.",
    "overall_status": "Recruitment status (RECRUITING, COMPLETED, TERMINATED, WITHDRAWN, UNKNOWN, ...).",
    "why_stopped": "The sponsor's reason for stopping a terminated, suspended or withdrawn study.",
    "phases": "Trial phases (EARLY_PHASE1, PHASE1 ... PHASE4, NA for device or behavioural studies).",
    "study_type": "INTERVENTIONAL, OBSERVATIONAL or EXPANDED_ACCESS.",
    "enrollment": "Participants: actual when enrollment_type is ACTUAL, else anticipated.",
    "enrollment_type": "ACTUAL or ESTIMATED.",
    "lead_sponsor": "Lead sponsor as registered.",
    "lead_sponsor_class": "Sponsor class (INDUSTRY, OTHER, NIH, FED, ...).",
    "conditions": "Conditions studied, as registered.",
    "interventions": "Interventions (type: name).",
    "countries": "Countries with a study site.",
    "start_date": "Study start (YYYY-MM or YYYY-MM-DD); see start_date_type.",
    "start_date_type": "ACTUAL or ESTIMATED.",
    "primary_completion_date": "Last participant's primary outcome measured; the date the results duty counts from.",
    "primary_completion_date_type": "ACTUAL or ESTIMATED.",
    "completion_date": "Study completion.",
    "completion_date_type": "ACTUAL or ESTIMATED.",
    "first_posted_date": "First posted on ClinicalTrials.gov.",
    "last_update_posted_date": "Last update posted on ClinicalTrials.gov.",
    "results_first_posted_date": "Results first posted on ClinicalTrials.gov (empty: no results posted).",
    "results_first_submit_date": "Results submitted and in quality control, not yet posted.",
    "disp_first_submit_date": "A certification of delay or an extension request was filed.",
    "is_fda_regulated_drug": "The record says it studies an FDA-regulated drug (1) or not (0); empty when not stated.",
    "is_fda_regulated_device": "The record says it studies an FDA-regulated device (1) or not (0); empty when not stated.",
    "has_results": "1 when results are posted on ClinicalTrials.gov.",
    "study_references": "References the record cites (PMID, type, citation).",
    "url": "The record on ClinicalTrials.gov.",
    "topic_lines": "Topic lines (queries/*.toml) that return the trial today.",
    "first_seen_at": "When the tracker first stored the trial (UTC).",
    "updated_at": "When the tracker last wrote the row (UTC).",
    "removed_at": "When a registry sweep found the record gone from ClinicalTrials.gov (empty: present).",
    "merged_into": "The NCT number this record's number now leads to, when the registry merged it into another (empty: not merged).",
    "raw_json": "The record as ClinicalTrials.gov returned it.",
    "raw_hash": "Hash of raw_json: a changed hash is a changed record.",
}
PUBLICATION_COLUMNS = {
    "pmid": "PubMed identifier.",
    "version": "PubMed record version.",
    "title": "Article title.",
    "abstract": "Abstract (labelled sections joined); may be the publisher's copyright.",
    "authors": "Authors, as Last Initials, in order.",
    "journal": "Journal title.",
    "journal_abbrev": "NLM journal abbreviation.",
    "volume": "Volume.",
    "issue": "Issue.",
    "pages": "Pages.",
    "pub_date": "Publication date as printed (2014 Jan 28, 1998 Dec-1999 Jan).",
    "pub_year": "Publication year.",
    "sort_date": "Publication date as YYYY-MM-DD, for sorting.",
    "article_date": "Electronic publication date.",
    "entrez_date": "When the record entered PubMed.",
    "doi": "Digital Object Identifier.",
    "pmcid": "PubMed Central identifier (free full text).",
    "publication_types": "PubMed publication types (Review, Randomized Controlled Trial, Retracted Publication, ...).",
    "mesh_terms": "MeSH headings; * marks a major topic.",
    "keywords": "Author keywords.",
    "language": "Language of the article.",
    "nct_ids": "ClinicalTrials.gov numbers the record lists in its DataBankList.",
    "corrections": "Corrections and notices (retraction, erratum, expression of concern) with their PMIDs.",
    "is_retracted": "1 when PubMed marks the article retracted.",
    "is_deleted": "1 when PubMed withdrew the record.",
    "is_book": "1 for a book or book chapter.",
    "topic_lines": "Topic lines (queries/*.toml) that return the publication.",
    "first_seen_at": "When the tracker first stored the publication (UTC).",
    "updated_at": "When the tracker last wrote the row (UTC).",
    "raw_xml": "The record as PubMed returned it.",
    "raw_hash": "Hash of raw_xml.",
}
CHANGE_COLUMNS = {
    "field": "Which field changed.",
    "old_value": "Value before.",
    "new_value": "Value after.",
    "detected_at": "When the tracker saw the change (UTC).",
    "run_id": "The update run that saw it (runs.id).",
}

QUERIES = {
    "recruiting_now": {
        "title": "Trials recruiting now",
        "description": "Trials whose registered status is RECRUITING and that the registry still returns under their own "
                       "number (not removed, not merged into another), newest start first.",
        "sql": "SELECT nct_id, title, phases, lead_sponsor, countries, start_date, primary_completion_date, topic_lines, url\n"
               "FROM trials WHERE overall_status = 'RECRUITING' AND removed_at IS NULL AND merged_into IS NULL\n"
               "ORDER BY start_date DESC, nct_id",
    },
    "results_overdue": {
        "title": "Results overdue",
        "description": "Open results_overdue signals: interventional trials past primary completion by more than the "
                       "threshold (12 months by default) with no results on ClinicalTrials.gov. Most serious first.",
        "sql": "SELECT s.record_id AS nct_id, t.title, t.overall_status, t.primary_completion_date, "
               "json_extract(s.detail, '$.months') AS months_overdue, s.summary, s.raised_at, t.topic_lines, t.url\n"
               "FROM signals s JOIN trials t ON t.nct_id = s.record_id\n"
               "WHERE s.kind = 'results_overdue' AND s.resolved_at IS NULL\n"
               "ORDER BY s.rank, months_overdue DESC, s.record_id",
    },
    "changes_this_week": {
        "title": "Changes in the last 7 days",
        "description": "Every tracked field of a stored trial or publication that changed in the last 7 days, newest first.",
        "sql": "SELECT 'trial' AS kind, c.nct_id AS id, t.title, c.field, c.old_value, c.new_value, c.detected_at\n"
               "FROM trial_changes c JOIN trials t ON t.nct_id = c.nct_id\n"
               "WHERE c.detected_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')\n"
               "UNION ALL\n"
               "SELECT 'publication', c.pmid, p.title, c.field, c.old_value, c.new_value, c.detected_at\n"
               "FROM publication_changes c JOIN publications p ON p.pmid = c.pmid\n"
               "WHERE c.detected_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '-7 days')\n"
               "ORDER BY detected_at DESC, kind, id",
    },
    "retracted_publications": {
        "title": "Retracted publications",
        "description": "Stored publications PubMed marks retracted, with the trials they are linked to.",
        "sql": "SELECT p.pmid, p.title, p.journal, p.pub_date, p.corrections, p.topic_lines,\n"
               "(SELECT group_concat(DISTINCT tp.nct_id) FROM trial_publications tp WHERE tp.pmid = p.pmid) AS linked_trials,\n"
               "'https://pubmed.ncbi.nlm.nih.gov/' || p.pmid || '/' AS url\n"
               "FROM publications p WHERE p.is_retracted = 1 ORDER BY p.sort_date DESC, p.pmid",
    },
    "trial_history": {
        "title": "One trial's history",
        "description": "Every change the tracker has seen of one trial (its NCT number), oldest first, with the run that saw it.",
        "sql": "SELECT c.detected_at, c.field, c.old_value, c.new_value, c.run_id\n"
               "FROM trial_changes c WHERE c.nct_id = upper(trim(:nct_id)) ORDER BY c.detected_at, c.id",
    },
    "line_records": {
        "title": "What one topic line returns",
        "description": "The records a topic line (its name, as in queries/*.toml) returns today, of every source, newest first.",
        "sql": "SELECT m.source, m.record_id, coalesce(t.title, p.title) AS title, t.overall_status, m.first_seen_at\n"
               "FROM query_matches m LEFT JOIN trials t ON m.source = 'ctgov' AND t.nct_id = m.record_id\n"
               "LEFT JOIN publications p ON m.source = 'pubmed' AND p.pmid = m.record_id\n"
               "WHERE m.query = :line AND m.unmatched_at IS NULL ORDER BY m.first_seen_at DESC, m.source, m.record_id",
    },
    "trials_with_publications": {
        "title": "Trials with linked publications",
        "description": "Each trial-publication link with how it was found: ctgov_reference (the trial's references), "
                       "pubmed_databank (the paper's DataBankList), pubmed_text (the NCT number in its title or abstract).",
        "sql": "SELECT t.nct_id, t.title AS trial_title, t.overall_status, p.pmid, p.title AS publication_title, p.pub_date,\n"
               "p.is_retracted, group_concat(tp.source, ', ') AS found_via\n"
               "FROM trial_publications tp JOIN trials t ON t.nct_id = tp.nct_id JOIN publications p ON p.pmid = tp.pmid\n"
               "GROUP BY tp.nct_id, tp.pmid ORDER BY t.nct_id, p.sort_date DESC",
    },
}


def declared_tables() -> dict[str, Any]:
    """The tables of the sources whose shapes declare them (other registries, Europe PMC): what each holds, its
    facets and search."""
    found: dict[str, Any] = {}
    for source in SOURCES.values():
        shape = source.shape
        if shape.columns is None:
            continue
        facets = (["overall_status", "registry", {"array": "topic_lines"}] if source.kind == "trial"
                  else ["is_preprint", "preprint_server", {"array": "topic_lines"}])
        found[shape.table] = {"source": source.label, "description": f"One row per {source.label} record a topic line returned or an import brought.",
                              "sort_desc": "first_seen_at", "label_column": "title", "facets": facets,
                              "fts_table": f"{shape.table}_fts", "fts_pk": "rowid"}
        found[shape.changes_table] = {"source": source.label, "description": f"Every change of a tracked {source.label} field, old value to new.",
                                      "sort_desc": "detected_at", "facets": ["field"]}
    return found


def metadata() -> dict[str, Any]:
    """Datasette metadata: titles, sources and terms, column descriptions, facets, search, canned queries."""
    ctgov = {"source": "ClinicalTrials.gov (API v2), U.S. National Library of Medicine", "source_url": "https://clinicaltrials.gov/",
             "license": "ClinicalTrials.gov terms and conditions", "license_url": CTGOV_TERMS}
    pubmed = {"source": "PubMed (NCBI E-utilities), U.S. National Library of Medicine", "source_url": "https://pubmed.ncbi.nlm.nih.gov/",
              "license": "NLM copyright notice: citations are NLM's; abstracts may be the publishers' copyright", "license_url": NLM_TERMS}
    return {
        "title": "Stem-cell approaches to hair loss: trials and publications",
        "description": "What the tracker stores from ClinicalTrials.gov and PubMed for its topic lines, with every change it "
                       "has seen and its evidence signals. Read-only: `tracker update` writes, this only reads.",
        "source": "ClinicalTrials.gov and PubMed, U.S. National Library of Medicine",
        "source_url": "https://www.nlm.nih.gov/",
        "license": "ClinicalTrials.gov terms; NLM copyright notice (abstracts may be the publishers')",
        "license_url": CTGOV_TERMS,
        "extra_css_urls": ["/tracker-assets/serve.css"],
        "databases": {DATABASE: {
            "tables": {
                "trials": {**ctgov, "description": "One row per registered trial returned by a topic line.",
                           "columns": TRIAL_COLUMNS, "sort_desc": "last_update_posted_date", "label_column": "title",
                           "facets": ["overall_status", {"array": "phases"}, "study_type", {"array": "topic_lines"}],
                           "fts_table": "trials_fts", "fts_pk": "rowid"},
                "publications": {**pubmed, "description": "One row per PubMed article returned by a topic line.",
                                 "columns": PUBLICATION_COLUMNS, "sort_desc": "sort_date", "label_column": "title",
                                 "facets": ["pub_year", "journal", {"array": "publication_types"}, {"array": "topic_lines"}],
                                 "fts_table": "publications_fts", "fts_pk": "rowid"},
                **declared_tables(),
                "trial_changes": {**ctgov, "description": "Every change of a tracked trial field, old value to new.",
                                  "columns": {"nct_id": "The trial.", **CHANGE_COLUMNS}, "sort_desc": "detected_at", "facets": ["field"]},
                "publication_changes": {**pubmed, "description": "Every change of a tracked publication field (retraction, corrections, DOI, title).",
                                        "columns": {"pmid": "The publication.", **CHANGE_COLUMNS}, "sort_desc": "detected_at", "facets": ["field"]},
                "trial_publications": {"description": "Links between trials and publications and how each was found.",
                                       "columns": {"nct_id": "The trial.", "pmid": "The publication.",
                                                   "source": "ctgov_reference (the trial's references), pubmed_databank (the paper's DataBankList) or pubmed_text (the NCT number in its title or abstract).",
                                                   "reference_type": "The registry's reference type (RESULT, BACKGROUND, DERIVED).",
                                                   "first_seen_at": "When the tracker first saw the link (UTC)."},
                                       "facets": ["source"]},
                "query_matches": {"description": "Which topic line returned which record, and since when.",
                                  "columns": {"query": "Topic line name.", "source": "ctgov or pubmed.", "record_id": "NCT number or PMID.",
                                              "first_seen_at": "When the line first returned it (UTC).",
                                              "unmatched_at": "When the line stopped returning it (empty: it still does)."},
                                  "facets": ["query", "source"]},
                "signals": {"description": "Evidence signals, open and resolved; none is ever deleted. See the README's Evidence signals.",
                            "columns": {"kind": "results_overdue, completion_slipped, stale_status, removed, merged, no_longer_matched or retracted_linked.",
                                        "record_id": "NCT number or PMID.", "scope": "The topic line or claim the signal concerns, when it has one.",
                                        "raised_at": "When the signal opened (UTC).", "resolved_at": "When it cleared (empty: open).",
                                        "resolution": "Why it cleared, from the record at that moment (results posted, date moved, ...).",
                                        "rank": "Seriousness: lower is more serious.", "summary": "What the signal says, in words.",
                                        "detail": "The figures behind it, as JSON."},
                            "facets": ["kind"], "sort_desc": "raised_at"},
                "runs": {"description": "Every update of a topic line against a source, with its outcome.",
                         "facets": ["status", "source", "query"], "sort_desc": "started_at"},
                "digests": {"description": "Every digest written: its window, files and summary.", "sort_desc": "created_at",
                            "columns": {"incomplete_lines": "Topic lines whose update in the window failed, came back short or did not run."}},
                "claim_checks": {"description": "Every check of a claim in claims.toml: verdict, summary and evidence.",
                                 "facets": ["claim_id", "verdict"], "sort_desc": "checked_at"},
                "sweeps": {"description": "Re-checks of every stored trial against the registry (finds removed records).", "sort_desc": "started_at"},
                "line_years": {"hidden": True},
                "_sqlite_migrations": {"hidden": True},
            },
            "queries": QUERIES,
        }},
    }


def readable(value: Any) -> str | None:
    """A stored JSON list as a person reads it: a; b. None when the value is not such a list (shown as stored)."""
    if not isinstance(value, str) or not value.startswith("["):
        return None
    try:
        items = json.loads(value)
    except ValueError:
        return None
    if not isinstance(items, list):
        return None
    return "; ".join(" ".join(str(v) for v in item.values() if v not in (None, "")) if isinstance(item, dict) else str(item)
                     for item in items)


class ReadablePages:
    """The Datasette plugin: list columns as plain text, raw API payloads as their size, a record's page with its
    history, links, signals and other registrations."""

    @staticmethod
    @hookimpl
    def extra_template_vars(view_name: str, table: str | None, request: Any, datasette: Datasette) -> Any:
        every_page = {"column_labels": COLUMN_LABELS}
        if view_name != "row" or table not in RECORD_TABLES or request is None:
            return every_page

        async def page() -> dict[str, Any]:
            [record_id] = urlsafe_components(request.url_vars["pks"])
            db = datasette.get_database(DATABASE)
            try:  # on Datasette's own read-only connection, as `tracker show` reads the store
                shown = await db.execute_fn(lambda conn: show_record(Store.over(conn, db.path), record_id))
            except TrackerError:
                return every_page
            return {**every_page, "record_page": record_page(shown, RECORD_TABLES[table], record_id)}
        return page

    @staticmethod
    @hookimpl
    def render_cell(value: Any, column: str, table: str | None) -> Any:
        if column in HUMAN_VALUES and isinstance(value, str) and value:
            code = readable(value) or value  # the code stays in the tooltip, the facets and .json
            return Markup(f'<span title="{escape(code)}">{escape(HUMAN_VALUES[column](value))}</span>')
        if table is None and column in ID_COLUMNS and isinstance(value, str) and (href := linked_href(value)):
            return Markup(f'<a href="{escape(href)}">{escape(value)}</a>')  # a canned query's ids lead to their records
        if column in RAW_COLUMNS and isinstance(value, str):
            return Markup(f'<span class="raw">{len(value.encode()) / 1000:.1f} kB as the API returned it; see the row page\'s .json</span>')
        if column in LIST_COLUMNS:
            text = readable(value)
            if text is not None:
                return Markup(escape(text))
        return None


COLUMN_LABELS = {  # column headers as a reader names them (templates/datasette/_table.html); the stored names stay in the JSON
    "nct_id": "NCT number", "trial_id": "Registration", "registry": "Registry", "title": "Title", "official_title": "Official title",
    "acronym": "Acronym", "overall_status": "Status", "registry_status": "Status as the registry words it", "why_stopped": "Why stopped",
    "phases": "Phase", "study_type": "Study type", "enrollment": "Participants", "enrollment_type": "Participants: actual or estimated",
    "lead_sponsor": "Sponsor", "lead_sponsor_class": "Sponsor class", "conditions": "Conditions", "interventions": "Interventions",
    "countries": "Countries", "start_date": "Start", "primary_completion_date": "Primary completion", "completion_date": "Completion",
    "first_posted_date": "First posted", "last_update_posted_date": "Last update posted", "results_first_posted_date": "Results posted",
    "has_results": "Results posted (1 = yes)", "topic_lines": "Topic lines", "first_seen_at": "First stored", "updated_at": "Last written",
    "removed_at": "Gone from the registry", "merged_into": "Merged into", "pmid": "PMID", "pmcid": "PMCID", "doi": "DOI",
    "journal": "Journal", "journal_abbrev": "Journal (abbreviated)", "pub_date": "Published", "pub_year": "Year", "sort_date": "Date",
    "authors": "Authors", "abstract": "Abstract", "mesh_terms": "MeSH headings", "keywords": "Keywords",
    "publication_types": "Publication types", "is_retracted": "Retracted (1 = yes)", "is_preprint": "Preprint (1 = yes)",
    "preprint_server": "Preprint server", "field": "Field", "old_value": "Before", "new_value": "After", "detected_at": "Detected",
    "kind": "Kind", "record_id": "Record", "summary": "In words", "raised_at": "Raised", "resolved_at": "Resolved",
    "resolution": "Why resolved", "query": "Topic line", "source": "Source", "url": "Page",
}
HUMAN_VALUES = {"overall_status": status_label, "phases": phase_label, "study_type": status_label}  # as the digest reads them
ID_COLUMNS = {"nct_id", "pmid", "record_id", "id", "linked_trials"}
RECORD_TABLES = {source.shape.table: source.name for source in SOURCES.values()}  # a stored record's table -> its source
TEMPLATES = Path(__file__).parent / "templates" / "datasette"  # row.html: a record's page with what `tracker show` says


def row_href(source: str, record_id: str) -> str:
    return f"/{DATABASE}/{SOURCES[source].shape.table}/{tilde_encode(record_id)}"


def linked_href(other_id: str) -> str | None:
    """A linked id's page here when the id names a stored kind of record (NCT number, PMID), else none."""
    scheme, value = recognise(other_id or "") or (None, None)
    return row_href({"nct": "ctgov", "pmid": "pubmed"}[scheme], value) if scheme in ("nct", "pmid") else None


def record_page(shown: dict[str, Any], source: str, record_id: str) -> dict[str, Any]:
    """What `tracker show` says of a record, as its Datasette page lays it out: other registrations, identifiers,
    history, links, open signals and topic lines, every id a link to its page here or at its registry."""
    own = (shown["source"], shown["id"]) == (source, record_id)
    return {
        "preferred": None if own else {"id": shown["id"], "label": SOURCES[shown["source"]].label, "href": row_href(shown["source"], shown["id"])},
        "same": [{**s, "href": row_href(s["source"], s["id"]) if s["source"] in SOURCES else None}
                 for s in shown["same"] if (s["source"], s["id"]) != (source, record_id)]
                + ([] if own else [{"label": SOURCES[shown["source"]].label, "id": shown["id"], "href": row_href(shown["source"], shown["id"]),
                                    "status": None, "tied_by": None, "url": SOURCES[shown["source"]].url(shown["id"])}]),
        "disagreements": shown.get("disagreements") or [],
        "identifiers": [{"label": i["label"], "value": i["value"], "url": i["url"], "via": i["via"].replace("_", " ")}
                        for i in shown["identifiers"] if i["via"] != "own"],
        "changes": [{"detected": time_label(c["detected_at"]), "field": c["field"], "old": c["old_value"] or "none", "new": c["new_value"] or "none"}
                    for c in shown["changes"]],
        "changes_href": f"/{DATABASE}/{SOURCES[shown['source']].shape.changes_table}?{SOURCES[shown['source']].shape.key}={quote(shown['id'])}"
        if shown["changes"] else None,
        "links": [{"id": link["other_id"], "href": linked_href(link["other_id"]), "title": link.get("title"),
                   "via": link["via"].replace("_", " ") + (f" ({link['detail']})" if link.get("detail") else "")} for link in shown["links"]],
        "signals": [{"label": SIGNAL_LABELS.get(s["kind"], s["kind"]), "since": date_label(s["raised_at"][:10]), "summary": s["summary"]}
                    for s in shown["signals"]],
        "lines": [{"query": m["query"], "since": date_label(m["first_seen_at"][:10])} for m in shown["lines"]],
    }


class ReadOnlyDatabase(Database):
    """Every connection Datasette opens is mode=ro, its write connection included: a write fails in SQLite itself.
    Each gets the page cache the tracker's own connections have (store.CACHE_KIB): Datasette's searches and facets
    read the same indexes."""

    def connect(self, write: bool = False):
        conn = super().connect(write=False)
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        return conn


def datasette_app(db_path: Path) -> Datasette:
    """Datasette over the database, read-only. The database is opened once first as every reader opens it: a missing
    one is a clear error, and an older schema is brought up to date (Datasette itself never writes)."""
    with open_store(db_path, create=False):
        pass
    if not pm.is_registered(ReadablePages):
        pm.register(ReadablePages, name="tracker-readable-pages")
    ds = Datasette(metadata=metadata(), settings={"truncate_cells_html": 600, "default_page_size": 50},
                   static_mounts=[("tracker-assets", str(STATIC))], template_dir=str(TEMPLATES))
    ds.add_database(ReadOnlyDatabase(ds, path=str(db_path), is_mutable=True), name=DATABASE)
    return ds


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything is announced: a port in use is one clear error, not a server
    that says it is serving and then exits."""
    try:
        return socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise TrackerError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def run(ds: Datasette, sock: socket.socket) -> None:
    server = uvicorn.Server(uvicorn.Config(ds.app(), log_level="warning"))
    server.run(sockets=[sock])
