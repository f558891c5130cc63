"""Claims register: is what the article says still current? Runs each check of the claims (loaded by topics.py)
against the store (offline) or the APIs too (live), gives CURRENT / OUTDATED / REVIEW with evidence, keeps every
verdict in claim_checks so a flip shows up in the digest, and writes the claims report."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .errors import TrackerError
from .http import HttpClient
from .models import Check, Claim
from .reports import write_text_atomic
from .templating import template_environment
from .settings import Settings
from .identifiers import url_for
from .sources import SOURCES
from .studies import group_trials
from .store import (
    Store,
    iso,
    save_claim_check,
    select_claim_flips,
    select_last_claim_check,
    select_last_cursor,
    select_line_publications,
    select_line_trials,
    select_publication,
)
from .topics import VERDICTS, load_claims

# -- checking --------------------------------------------------------------------------------------

@dataclass
class Outcome:
    verdict: str
    summary: str
    evidence: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Context:
    store: Store
    settings: Settings
    client: HttpClient | None  # None: offline
    now: datetime

    @property
    def live(self) -> bool:
        return self.client is not None


def _terms(terms: tuple[str, ...] | list[str] | None) -> re.Pattern | None:
    return re.compile("|".join(f"(?:{t})" for t in terms), re.IGNORECASE) if terms else None


def _trial_view(nct_id, title, official_title, status, phases, has_results, enrollment, interventions, url) -> dict[str, Any]:
    return {"nct_id": nct_id, "title": title or "", "official_title": official_title or "", "status": status, "phases": list(phases),
            "has_results": bool(has_results), "enrollment": enrollment, "interventions": list(interventions), "url": url}


def _meets(trial: dict[str, Any], alternatives: list[dict[str, Any]]) -> bool:
    for alt in alternatives:
        if "statuses" in alt and trial["status"] not in alt["statuses"]:
            continue
        if "phases" in alt and not set(alt["phases"]) & set(trial["phases"]):
            continue
        if "has_results" in alt and trial["has_results"] != alt["has_results"]:
            continue
        if "min_enrollment" in alt and (trial["enrollment"] or 0) < alt["min_enrollment"]:
            continue
        return True
    return False


def classify_trial(trial: dict[str, Any], params: dict[str, Any]) -> tuple[bool, str]:
    """(counts as a match, why). A match meets one of any_of and has a qualifying intervention."""
    if not _meets(trial, params.get("any_of", [{}])):
        return False, "criteria not met"
    require, exclude, context = _terms(params.get("require_terms")), _terms(params.get("exclude_terms")), _terms(params.get("context_terms"))
    units = list(trial["interventions"]) + ([trial["title"], trial["official_title"]] if params.get("match_title") else [])
    qualifying = [u for u in units if (require is None or require.search(u)) and not (exclude and exclude.search(u))]
    if not qualifying:
        excluded = [u for u in units if require and require.search(u)]
        return False, ("cell-free or excluded product: " + "; ".join(excluded)) if excluded else "no qualifying intervention"
    if context and not context.search(" ".join([trial["title"], trial["official_title"], *trial["interventions"]])):
        return False, "outside the claim's context"
    return True, "; ".join(qualifying)


def _trial_evidence(trial: dict[str, Any], role: str, why: str) -> dict[str, Any]:
    return {"type": "trial", "id": trial["nct_id"], "title": trial["title"], "url": trial["url"], "status": trial["status"],
            "phases": trial["phases"], "has_results": trial["has_results"], "enrollment": trial["enrollment"], "role": role, "why": why}


def _never_fetched(ctx: Context, source: str, line: str) -> Outcome:
    """A stored line no update has fetched is no evidence either way (its "0 stored trials" proves nothing)."""
    return Outcome("REVIEW", f"Line {line} has never been fetched from {SOURCES[source].label}, so nothing stored can support or "
                             f"contradict the claim; run `tracker update`{'' if ctx.live else ', or check with --live'}.")


def check_none_exists(check: Check, ctx: Context, claim: Claim) -> Outcome:
    p = check.params
    trials: dict[str, dict[str, Any]] = {}
    sources = []
    live = ctx.live and bool(p.get("ctgov"))
    # the date of the line's last good update of any registry
    fetched = max((c for s in SOURCES.values() if s.kind == "trial" and (c := select_last_cursor(ctx.store, s.name, p["line"]))),
                  default=None) if p.get("line") else None
    if p.get("line") and fetched is None:
        if not live:
            return _never_fetched(ctx, "ctgov", p["line"])
        sources.append(f"no stored trials (line {p['line']} never fetched)")
    elif p.get("line"):
        rows = select_line_trials(ctx.store, p["line"])
        # a study registered in several registries is one piece of evidence, under its preferred registration
        studies = group_trials(ctx.store, [(r["source"], r["nct_id"]) for r in rows])
        order = list(SOURCES)
        best: dict[tuple[str, str], dict[str, Any]] = {}
        for r in sorted(rows, key=lambda r: (order.index(r["source"]), r["nct_id"])):  # the preferred registration the line has
            best.setdefault(studies[(r["source"], r["nct_id"])].preferred, r)
        rows = sorted(best.values(), key=lambda r: r["nct_id"])
        # deleted, or living on under another number (an ordered set: named in order, looked up at once)
        gone = dict.fromkeys(r["nct_id"] for r in rows if r["removed_at"] or r["merged_into"])
        for r in rows:
            if r["nct_id"] not in gone:
                trials[r["nct_id"]] = _trial_view(r["nct_id"], r["title"], r["official_title"], r["overall_status"], json.loads(r["phases"] or "[]"),
                                                  r["has_results"], r["enrollment"], json.loads(r["interventions"] or "[]"), r["url"])
        sources.append(f"{len(rows) - len(gone)} stored trials of line {p['line']}, fetched up to {fetched}"
                       + (f" ({len(gone)} set aside as removed from or merged in the registry: {', '.join(gone)})" if gone else ""))
    if live:
        count = 0
        for t in SOURCES["ctgov"].records(ctx.client, ctx.settings, p["ctgov"]):
            count += 1
            trials.setdefault(t.nct_id, _trial_view(t.nct_id, t.title, t.official_title, t.overall_status, t.phases, t.has_results,
                                                    t.enrollment, t.interventions, t.url))
        sources.append(f"{count} trials of the live ClinicalTrials.gov query")
    matches, excluded = [], []
    for trial in trials.values():
        matched, why = classify_trial(trial, p)
        if matched:
            matches.append(_trial_evidence(trial, "match", why))
        elif why.startswith("cell-free") and _meets(trial, p.get("any_of", [{}])):
            excluded.append(_trial_evidence(trial, "excluded", why))
    checked = " and ".join(sources) or "nothing"
    if matches:
        ids = ", ".join(m["id"] for m in matches)
        return Outcome(p.get("on_match", "OUTDATED"), f"{len(matches)} trial(s) contradict the claim: {ids} (checked {checked}).", matches + excluded)
    note = f"; {len(excluded)} cell-free trial(s) set aside: {', '.join(e['id'] for e in excluded)}" if excluded else ""
    return Outcome("CURRENT", f"No trial contradicts the claim (checked {checked}{note}).", excluded)


def check_count(check: Check, ctx: Context, claim: Claim) -> Outcome:
    p = check.params
    if not ctx.live:
        last = select_last_claim_check(ctx.store, claim.id, mode="live")
        count = next((e["value"] for e in json.loads(last["evidence"]) if e.get("type") == "count"), None) if last else None
        if count is None:
            return Outcome("REVIEW", "A live count is needed and none was ever taken; run `tracker claims --live`.")
        prefix = f"Offline: the last live count ({last['checked_at'][:10]})"
    else:
        count = SOURCES["ctgov"].count(ctx.client, ctx.settings, p["ctgov"], f"claim {claim.id}").total
        prefix = "ClinicalTrials.gov counts"
    evidence = [{"type": "count", "value": count, "query": p["ctgov"], "minimum": p["minimum"]}]
    if count < p["minimum"]:
        return Outcome("OUTDATED", f"{prefix} {count:,} trials, below the claimed {p['minimum']:,}.", evidence)
    note = ""
    if p.get("understated_above") and count > p["understated_above"]:
        note = f" The claim understates it (more than {p['understated_above']:,})."
    return Outcome("CURRENT", f"{prefix} {count:,} trials, more than the claimed {p['minimum']:,}.{note}", evidence)


def _reference(pub: dict[str, Any]) -> str:
    authors = pub.get("authors") or []
    who = ", ".join(authors[:3]) + (", et al" if len(authors) > 3 else "")
    journal = pub.get("journal_abbrev") or pub.get("journal") or ""
    volume = f";{pub['volume']}" if pub.get("volume") else ""
    pages = f":{pub['pages']}" if pub.get("pages") else ""
    doi = f" doi:{pub['doi']}." if pub.get("doi") else ""
    return f"{who}. {pub.get('title') or ''} {journal}. {pub.get('pub_date') or ''}{volume}{pages}.{doi} PMID {pub['pmid']}.".strip()


def _norm(text: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", " ", (text or "").lower()).strip()


def check_citation(check: Check, ctx: Context, claim: Claim) -> Outcome:
    p = check.params
    pub = None
    if ctx.live:
        found = SOURCES["pubmed"].fetch_ids(ctx.client, ctx.settings, [p["pmid"]])
        pub = next(({**vars(x), "authors": list(x.authors)} for x in found if x.pmid == p["pmid"]), None)
    else:
        row = select_publication(ctx.store, p["pmid"])
        if row:
            pub = {**row, "authors": json.loads(row["authors"] or "[]")}
    if pub is None:
        where = "PubMed has no such record" if ctx.live else "it is not stored; run with --live"
        return Outcome("REVIEW", f"PMID {p['pmid']} could not be checked: {where}.")
    evidence = [{"type": "publication", "id": pub["pmid"], "title": pub.get("title"), "journal": pub.get("journal"),
                 "journal_abbrev": pub.get("journal_abbrev"), "date": pub.get("pub_date"), "doi": pub.get("doi"),
                 "url": url_for("pmid", pub["pmid"]), "reference": _reference(pub)}]
    problems = []
    stated = _norm(p["stated_journal"])
    if stated not in (_norm(pub.get("journal")), _norm(pub.get("journal_abbrev"))):
        problems.append(f"journal: the article says {p['stated_journal']}, the record is {pub.get('journal')} ({pub.get('journal_abbrev')})")
    if not (pub.get("sort_date") or "").startswith(p["stated_date"]):
        problems.append(f"date: the article says {p['stated_date']}, the record is {pub.get('pub_date')}")
    if p.get("stated_title") and _norm(p["stated_title"]) != _norm(pub.get("title")):
        problems.append(f"title: the record's title is {pub.get('title')!r}")
    if pub.get("is_retracted"):
        problems.append("the paper has been RETRACTED")
    if pub.get("is_deleted"):
        problems.append("PubMed has since removed the record (a DeleteCitation)")
    if problems:
        return Outcome("OUTDATED", "Citation error: " + "; ".join(problems) + f". Correct reference: {_reference(pub)}", evidence)
    return Outcome("CURRENT", f"Citation verified: {_reference(pub)}", evidence)


def check_newer_evidence(check: Check, ctx: Context, claim: Claim) -> Outcome:
    p = check.params
    types, journals = set(p.get("types", [])), {_norm(j) for j in p.get("journals", [])}
    found: dict[str, dict[str, Any]] = {}
    live = ctx.live and bool(p.get("pubmed_term"))
    fetched = select_last_cursor(ctx.store, "pubmed", p["line"]) if p.get("line") else None
    if p.get("line") and fetched is None and not live:
        return _never_fetched(ctx, "pubmed", p["line"])
    if p.get("line") and fetched is not None:
        for r in select_line_publications(ctx.store, p["line"], claim.as_of):
            pts = set(json.loads(r["publication_types"] or "[]"))
            if types and not types & pts:
                continue
            if journals and not journals & {_norm(r["journal"]), _norm(r["journal_abbrev"])}:
                continue
            found[r["pmid"]] = {"type": "publication", "id": r["pmid"], "title": r["title"], "journal": r["journal_abbrev"] or r["journal"],
                                "date": r["pub_date"], "url": url_for("pmid", r["pmid"]), "retracted": bool(r["is_retracted"])}
    live_count = None
    if live:
        term = f"({p['pubmed_term']})"
        if types:
            term += " AND (" + " OR ".join(f'"{t}"[pt]' for t in sorted(types)) + ")"
        if journals:
            term += " AND (" + " OR ".join(f'"{j}"[ta]' for j in p["journals"]) + ")"
        live_count, pubs = SOURCES["pubmed"].search(ctx.client, ctx.settings, term, 20, since=date.fromisoformat(claim.as_of),
                                                    until=ctx.now.date(), label=f"claim {claim.id}")
        if pubs:
            for pub in pubs:
                found.setdefault(pub.pmid, {"type": "publication", "id": pub.pmid, "title": pub.title, "journal": pub.journal_abbrev or pub.journal,
                                            "date": pub.pub_date, "url": url_for("pmid", pub.pmid), "retracted": pub.is_retracted})
    n = max(len(found), live_count or 0)
    kind = " or ".join(sorted(types)) if types else "publications"
    scope = f" in {', '.join(p['journals'])}" if journals else ""
    if not n:
        return Outcome("CURRENT", f"No newer {kind}{scope} since {claim.as_of}.")
    verdict = p.get("verdict_if_found", "REVIEW")
    lead = "Extended by" if verdict == "CURRENT" else "For review:"
    listed = "" if len(found) >= n else f" {len(found)} listed here (those stored and PubMed's most recent); PubMed counts {live_count}."
    return Outcome(verdict, f"{lead} {n} newer {kind}{scope} since {claim.as_of}.{listed}", list(found.values()))


CHECKERS = {"count": check_count, "none_exists": check_none_exists, "citation": check_citation, "newer_evidence": check_newer_evidence}


@dataclass
class ClaimResult:
    claim: Claim
    verdict: str
    summary: str
    evidence: list[dict[str, Any]]
    checked_at: str
    mode: str
    since_last: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.claim.id, "wording": self.claim.wording, "where": self.claim.where, "as_of": self.claim.as_of,
                "verdict": self.verdict, "summary": self.summary, "evidence": self.evidence, "checked_at": self.checked_at,
                "mode": self.mode, "since_last_check": self.since_last}


def _since_last(previous: dict[str, Any] | None, verdict: str, evidence: list[dict[str, Any]]) -> str:
    if previous is None:
        return "first check"
    when = previous["checked_at"][:10]
    if previous["verdict"] != verdict:
        return f"verdict changed: {previous['verdict']} on {when} -> {verdict} now"
    before = {(e.get("type"), e.get("id"), e.get("value")) for e in json.loads(previous["evidence"] or "[]")}
    new = [e for e in evidence if (e.get("type"), e.get("id"), e.get("value")) not in before]
    if new:
        return f"same verdict as on {when}; new evidence: " + ", ".join(str(e.get("id") or e.get("value")) for e in new[:10])
    return f"unchanged since {when}"


def check_claims(claims: list[Claim], ctx: Context) -> list[ClaimResult]:
    """Run every check of every claim; the worst outcome is the claim's verdict. Each verdict is stored."""
    mode = "live" if ctx.live else "offline"
    results = []
    for claim in claims:
        outcomes = [CHECKERS[c.kind](c, ctx, claim) for c in claim.checks]
        verdict = max((o.verdict for o in outcomes), key=VERDICTS.index)
        summary = " ".join(o.summary for o in outcomes)
        evidence = [e for o in outcomes for e in o.evidence]
        previous = select_last_claim_check(ctx.store, claim.id)
        checked_at = iso(ctx.now)
        results.append(ClaimResult(claim, verdict, summary, evidence, checked_at, mode, _since_last(previous, verdict, evidence)))
        save_claim_check(ctx.store, claim_id=claim.id, checked_at=checked_at, verdict=verdict, summary=summary, evidence=evidence, mode=mode)
    return results


def claim_flips(store: Store, start: str, end: str, claims_path: Path | None = None) -> list[dict[str, Any]]:
    """Claims whose verdict changed in the window, with their wording when the claims file is at hand."""
    flips = select_claim_flips(store, start, end)
    wording: dict[str, str] = {}
    if claims_path and claims_path.exists():
        try:
            wording = {c.id: c.wording for c in load_claims(claims_path)}
        except TrackerError:
            wording = {}
    for flip in flips:
        flip["wording"] = wording.get(flip["claim_id"], "")
    return flips


# -- the claims report -----------------------------------------------------------------------------

def render_claims(results, *, now: datetime, html: bool) -> str:
    template = "claims.html.j2" if html else "claims.md.j2"
    return template_environment(html).get_template(template).render(results=results, checked=now.strftime("%Y-%m-%d %H:%M UTC"))


def write_claims_report(results, reports_dir: Path, *, now: datetime) -> list[Path]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    stem = reports_dir / f"claims-{now.date().isoformat()}"
    return [
        write_text_atomic(stem.with_suffix(".md"), render_claims(results, now=now, html=False)),
        write_text_atomic(stem.with_suffix(".html"), render_claims(results, now=now, html=True)),
    ]
