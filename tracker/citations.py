"""Citation watches: a topic line's anchor papers (`cites = [...]`) followed by who cites them. For each source that
can say (PubMed's elink citedin, Europe PMC's citations, which also finds citing preprints), the citers not yet
stored as citing that anchor are fetched, saved as members of the line, and linked "cites" to the anchor with the
channel and when first seen. An update that finds no new citer fetches nothing. An anchor named by DOI is resolved to
its PMID once (esearch) and remembered; one that resolves to nothing is said, and the line's other anchors go on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .http import HttpClient
from .models import Query, SaveResult
from .settings import Settings
from .sources import Source
from .store import (
    Store,
    save_citations,
    save_records,
    save_resolved_doi,
    save_run_end,
    save_run_start,
    select_citations,
    select_identified,
    select_resolved_dois,
)


@dataclass
class Watch:
    result: SaveResult = field(default_factory=SaveResult)
    anchors: int = 0
    new_citations: int = 0
    problems: list[str] = field(default_factory=list)  # anchors that resolve to nothing, citers that never came


def run_label(query: Query) -> str:
    """How a line's citation watch is recorded in runs (apart from the line's own updates and their cursors)."""
    return f"{query.name}:cites"


def anchor_pmids(store: Store, client: HttpClient, settings: Settings, cites: tuple[str, ...], *, now: datetime,
                 resolver: Source | None) -> tuple[list[str], list[str]]:
    """(the anchors' PMIDs, the DOIs that resolve to no PubMed record): each DOI resolved once by `resolver` and
    remembered; without a resolver, only the DOIs resolved before count."""
    pmids = [c.split(":", 1)[1] for c in cites if c.startswith("pmid:")]
    dois = [c.split(":", 1)[1] for c in cites if c.startswith("doi:")]
    known = select_resolved_dois(store, dois)
    unresolved = []
    for doi in dois:
        pmid = known.get(doi) or (resolver.resolve_doi(client, settings, doi) if resolver else None)
        if pmid:
            if doi not in known:
                save_resolved_doi(store, doi, pmid, now)
            pmids.append(pmid)
        else:
            unresolved.append(doi)
    return list(dict.fromkeys(pmids)), unresolved


def watch_line(store: Store, client: HttpClient, settings: Settings, query: Query, source: Source, *, now: datetime) -> Watch:
    """One line's anchors asked of one source; new citers fetched and saved with their links in one transaction
    (a failure records the run failed and stores nothing of it)."""
    watch = Watch()
    run_id = save_run_start(store, source.name, run_label(query), now)
    try:
        # the source that resolves DOIs (PubMed, updated first) says which resolve to nothing; the others use its answers
        pmids, unresolved = anchor_pmids(store, client, settings, query.cites, now=now, resolver=source if source.resolve_doi else None)
        watch.anchors = len(pmids)
        if source.resolve_doi:
            watch.problems.extend(f"doi:{doi} resolves to no PubMed record" for doi in unresolved)
        citing = source.citers(client, settings, pmids) if pmids else {}
        known = select_citations(store, source.name, pmids)
        new = [(anchor, citer) for anchor, citers in citing.items() for citer in citers if (anchor, citer) not in known]
        wanted = list(dict.fromkeys(citer for _, citer in new))
        if source.scheme == "pmid":  # the anchors themselves, once, from the source that keeps papers by PMID
            wanted += [a for a in pmids if a not in wanted and not select_identified(store, "pmid", a)]
        records = source.fetch_ids(client, settings, wanted) if wanted else []
        got = {r.record_id for r in records}
        missing = [c for c in wanted if c not in got and c not in pmids]  # an anchor PubMed does not return is no citer lost
        if missing:
            watch.problems.append(f"{len(missing)} citing record(s) {source.label} named but did not return ({', '.join(missing[:5])})")
        with store.transaction():
            if records:
                watch.result = save_records(store, source.name, records, query=query.name, run_id=run_id, now=now)
            linked = [(anchor, citer) for anchor, citer in new if citer in got]
            save_citations(store, source.name, linked, now)
            watch.new_citations = len(linked)
            save_run_end(store, run_id, status="ok", now=now, result=watch.result, shortfall="; ".join(watch.problems) or None)
        return watch
    except BaseException as exc:
        save_run_end(store, run_id, status="failed", now=now, error=str(exc) or type(exc).__name__)
        raise
