"""The weekly digest: build_digest(store, queries, window) -> Digest; render_* turn it into Markdown, HTML and Atom
(pure functions over the Digest); write_digest and send_digest do the file and SMTP work."""

from __future__ import annotations

import email.utils
import functools
import json
import smtplib
import ssl
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import urlencode

from .briefing import brief_papers, brief_trials, by_evidence, read_shown
from .errors import TrackerError
from .feeds import write_feeds
from .materiality import by_level
from .models import Query
from .reports import EPOCH, digest_title, write_text_atomic
from .templating import template_environment
from .labels import SIGNAL_LABELS, date_label, describe_changes, describe_publication_changes, phase_label, plural, status_label, time_label
from .settings import SERVE_DATABASE as DATASETTE_DATABASE
from .settings import Settings
from .rules import KINDS as SIGNAL_KINDS
from .sources import SOURCES
from .studies import Study, group_trials, group_works
from .store import (
    Store,
    iso,
    select_baseline_given,
    save_digest,
    select_digests,
    select_incomplete_runs,
    select_window_drift,
    select_update_times,
    select_last_digest_end,
    select_digest_stem_owner,
    select_new_links,
    select_new_publications,
    select_window_registration_changes,
    select_window_registrations,
    select_publication_changes,
    select_signal_counts,
    select_window_signals,
    select_year_counts,
)
BASELINE_SHOWN = 10  # records per section of the baseline digest; the rest are counted and one command away
BADGES = (
    ("Randomized Controlled Trial", "randomized trial"),
    ("Meta-Analysis", "meta-analysis"),
    ("Systematic Review", "systematic review"),
    ("Clinical Trial", "clinical trial"),
    ("Review", "review"),
)


@dataclass
class Line:
    name: str
    title: str
    new_trials: list[dict[str, Any]] = field(default_factory=list)
    changed_trials: list[dict[str, Any]] = field(default_factory=list)  # one entry per trial, with its changes
    new_publications: list[dict[str, Any]] = field(default_factory=list)
    changed_publications: list[dict[str, Any]] = field(default_factory=list)
    new_links: list[dict[str, Any]] = field(default_factory=list)
    chart: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    hidden: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # the baseline's records beyond the first BASELINE_SHOWN
    short: str = ""  # its short name, where another line's record says it is here too
    searches: list[dict[str, str]] = field(default_factory=list)  # the line's search on each service's own site: kind, label, url

    def more(self, attr: str) -> int:
        return len(self.hidden.get(attr, ()))

    def total(self, attr: str) -> int:
        return len(getattr(self, attr)) + self.more(attr)

    def all(self, attr: str) -> list[dict[str, Any]]:
        return getattr(self, attr) + self.hidden.get(attr, [])

    @property
    def empty(self) -> bool:
        return not (self.new_trials or self.changed_trials or self.new_publications or self.changed_publications or self.new_links)


@dataclass
class Digest:
    window_start: str
    window_end: str
    lines: list[Line]
    failures: list[dict[str, Any]]
    claim_flips: list[dict[str, Any]] = field(default_factory=list)
    raised: list[dict[str, Any]] = field(default_factory=list)  # evidence signals raised in the window
    resolved: list[dict[str, Any]] = field(default_factory=list)  # ... and resolved in it
    signal_counts: dict[str, int] | None = None  # the first digest: open signals per kind instead of a list
    baseline: list[dict[str, Any]] | None = None  # the first digest: records per topic line and source (name, title, trials, publications)
    drift: list[dict[str, Any]] = field(default_factory=list)  # per source: records whose fields came in an unexpected form
    shorts: dict[str, str] = field(default_factory=dict)  # every line's short name, by name
    serve_url: str | None = None  # where `tracker serve` is reachable (TRACKER_SERVE_URL): stored records are linked there
    base_url: str | None = None  # where reports/ is served (TRACKER_BASE_URL): line pages are linked there from a mail
    line_page: bool = False  # the page is one line's (reports/lines/NAME/), not the combined digest

    @property
    def attention(self) -> bool:
        return bool(self.raised or self.resolved or self.signal_counts)

    def count(self, attr: str) -> int:
        return sum(line.total(attr) for line in self.lines)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "new_trials": self.count("new_trials"),
            "changed_trials": self.count("changed_trials"),
            "new_publications": self.count("new_publications"),
            "changed_publications": self.count("changed_publications"),
            "new_links": self.count("new_links"),
            "retracted": sum(1 for line in self.lines for p in line.all("new_publications") if p["is_retracted"])
            + sum(1 for line in self.lines for p in line.all("changed_publications") if p["retracted_now"]),
        }

    @property
    def retracted_now(self) -> list[dict[str, Any]]:
        """Papers stored before the window and retracted in it, once each: said at the top, in "Needs attention"."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for line in self.lines:
            for c in line.all("changed_publications"):
                if c.get("retracted_now"):
                    found.setdefault((c["source"], c["record_id"]), c)
        return list(found.values())

    @property
    def drift_notes(self) -> list[str]:
        """One sentence per source whose answers drifted in the window: how many records, which fields."""
        fields = 6
        return [f"{d['source']}: {plural(d['records'], 'record')} had fields in an unexpected form "
                f"({', '.join(d['fields'][:fields])}{' ...' if len(d['fields']) > fields else ''}); the update's log names each record and field. "
                "Each such field was read where its meaning was certain and left absent otherwise; the stored payload keeps what came."
                for d in self.drift]

    @property
    def quiet(self) -> bool:
        return all(line.empty for line in self.lines) and not self.claim_flips and not self.attention

    @property
    def summary(self) -> str:
        c = self.counts
        if self.baseline is not None and not (self.quiet and self.failures):
            trials, pubs = self.count("new_trials"), self.count("new_publications")
            text = (f"The baseline: the first digest of this database, with {plural(trials, 'trial')} and {plural(pubs, 'publication')} "
                    f"across {plural(len(self.baseline), 'topic line')}. Each section lists the {BASELINE_SHOWN} most recent; "
                    "later digests list what is new or changed.")
            if c["retracted"]:
                text += f" {plural(c['retracted'], 'stored publication')} retracted."
            if self.signal_counts:
                text += f" {plural(sum(self.signal_counts.values()), 'open evidence signal')}."
        elif self.quiet and self.failures:
            text = "Nothing new was stored in this window, but updates failed, came back short or did not run, so this digest cannot say the week was quiet."
        elif self.quiet:
            text = "A quiet week: no new or changed trials, no new publications and no new trial-publication links."
        else:
            text = ", ".join(
                (
                    plural(c["new_trials"], "new trial"),
                    plural(c["changed_trials"], "changed trial"),
                    plural(c["new_publications"], "new publication"),
                    plural(c["new_links"], "new trial-publication link"),
                )
            )
            if c["changed_publications"]:
                text += f", {plural(c['changed_publications'], 'publication')} corrected or retracted"
            if self.claim_flips:
                text += f", {plural(len(self.claim_flips), 'claim')} whose verdict changed"
            if self.raised:
                text += f", {plural(len(self.raised), 'new evidence signal')}"
            if self.signal_counts:
                text += f", {plural(sum(self.signal_counts.values()), 'open evidence signal')}"
            text += "."
        if self.failures:
            text += " Not complete: " + "; ".join(f"{f['query']} [{f['source']}] {f['status']}" for f in self.failures) + "."
        return text

    @property
    def title(self) -> str:
        return digest_title(self.window_start, self.window_end, baseline=self.baseline is not None)

    stem: str | None = None  # the name its files carry, once chosen (file_stem_for)

    @property
    def file_stem(self) -> str:
        return self.stem or f"digest-{self.window_end[:10]}"


# -- building --------------------------------------------------------------------------------------

def _order(queries: list[Query]) -> dict[str, int]:
    return {q.name: i for i, q in enumerate(queries)}


def _names(record: dict[str, Any]) -> list[str]:
    """The topic lines that matched a record ('a|b' from the store), each once."""
    return list(dict.fromkeys(n for n in (record.get("queries") or "").split("|") if n))


def _lines_of(record: dict[str, Any], order: dict[str, int]) -> list[str]:
    return sorted(_names(record), key=lambda n: (order.get(n, len(order)), n))


def _place(items: Iterable[dict[str, Any]], order: dict[str, int], lines: dict[str, Line], attr: str) -> None:
    """Each record goes under its first line only, naming the other lines that matched it."""
    for item in items:
        names = _lines_of(item, order)
        if not names:
            continue
        item["also_in"] = names[1:]
        target = names[0]
        if target not in lines:
            lines[target] = Line(name=target, title=f"{target} (no longer configured)")
        getattr(lines[target], attr).append(item)


def _json_list(value: str | None) -> list[Any]:
    return json.loads(value) if value else []


def _group_changes(rows: list[dict[str, Any]], record_key: str) -> list[dict[str, Any]]:
    """Change rows -> one entry per record, newest change first, keeping the query list."""
    grouped: dict[str, dict[str, Any]] = {}
    for row in rows:
        entry = grouped.setdefault(row[record_key], {**row, "changes": []})
        entry["changes"].append(row)
    return list(grouped.values())


def _badges(types_json: str | None) -> list[str]:
    types = set(_json_list(types_json))
    found = [label for pt, label in BADGES if pt in types]
    if "randomized trial" in found and "clinical trial" in found:
        found.remove("clinical trial")
    return found


def _authors(authors_json: str | None) -> str:
    authors = _json_list(authors_json)
    if not authors:
        return "no authors listed"
    return ", ".join(authors[:3]) + (" et al." if len(authors) > 3 else "")


def build_digest(store: Store, queries: list[Query], *, start: str, end: str, claim_flips: list[dict[str, Any]] | None = None,
                 serve_url: str | None = None, base_url: str | None = None) -> Digest:
    order = _order(queries)
    lines = {q.name: Line(name=q.name, title=q.title, short=q.short or q.name, searches=website_searches(q)) for q in queries}

    trials, changed = _trial_news(store, start, end)
    _place(trials, order, lines, "new_trials")
    _place(changed, order, lines, "changed_trials")

    pubs, pub_changes = _publication_news(store, start, end)
    _place(pubs, order, lines, "new_publications")
    _place(pub_changes, order, lines, "changed_publications")
    _place(_link_news(store, start, end), order, lines, "new_links")

    ordered = sorted(lines.values(), key=lambda line: (order.get(line.name, len(order)), line.name))
    for line in ordered:
        line.chart = select_year_counts(store, line.name, end)
    failures = select_incomplete_runs(store, start, end) + _not_updated(store, queries, start, end)
    digest = Digest(window_start=start, window_end=end, lines=ordered, failures=failures, claim_flips=claim_flips or [],
                    drift=_drift(store, start, end), shorts={line.name: line.short or line.name for line in ordered},
                    serve_url=serve_url, base_url=base_url)
    # The first digest of a database (or the first with records): the backlog as counts, not a list nobody reads.
    if start == EPOCH or not select_baseline_given(store):
        digest.baseline = _baseline_counts(ordered, trials, pubs)
        for line in ordered:
            _keep_most_recent(line)
        digest.signal_counts = {k: n for k, n in sorted(select_signal_counts(store).items(), key=lambda kv: SIGNAL_KINDS.index(kv[0]))}
    else:
        window = select_window_signals(store, start, end)
        digest.raised, digest.resolved = window["raised"], window["resolved"]
    read_shown(store, [t for line in ordered for t in (*line.new_trials, *line.changed_trials)],
               [p for line in ordered for p in line.new_publications])
    return digest


def website_searches(query: Query) -> list[dict[str, str]]:
    """The line's search on each service's own site (ClinicalTrials.gov, PubMed, Europe PMC, ISRCTN), for a reader
    who wants every record the service holds for it, not only what the digest shows."""
    return [{"kind": source.kind, "label": source.label, "url": url} for source in SOURCES.values()
            if source.website and source.name in query.params and (url := source.website(query.params[source.name]))]


def _drift(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """Per source, the records of the window's runs whose fields came in an unexpected form (a record met by two
    lines counted once) and those fields: a schema change upstream, seen the week it happens."""
    by_source: dict[str, dict[str, Any]] = {}
    for run in select_window_drift(store, start, end):
        try:
            found = json.loads(run["drift"])
        except (TypeError, ValueError):
            continue
        entry = by_source.setdefault(run["source"], {"named": set(), "largest": 0, "fields": set()})
        entry["named"].update(found.get("named") or ())
        entry["largest"] = max(entry["largest"], int(found.get("records") or 0))
        entry["fields"].update(found.get("fields") or ())
    return [{"source": SOURCES[name].label if name in SOURCES else name,
             "records": max(len(e["named"]), e["largest"]), "fields": sorted(e["fields"])}
            for name, e in sorted(by_source.items(), key=lambda kv: list(SOURCES).index(kv[0]) if kv[0] in SOURCES else len(SOURCES))]


def _trial_news(store: Store, start: str, end: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The window's new and changed trials of every registry, one entry per study: a study new in the window is
    listed under its preferred registration, naming the others; a new registration of a study known before is a
    change of that study ("Now also registered in ..."); a change of any registration is a change of its study,
    said with the registry it came from."""
    new_rows = select_window_registrations(store, start, end)
    change_rows = select_window_registration_changes(store, start, end)
    keys = [(r["source"], r["record_id"]) for r in new_rows + change_rows]
    studies = group_trials(store, list(dict.fromkeys(keys)))
    by_key = {(r["source"], r["record_id"]): r for r in new_rows}
    trials: dict[tuple[str, str], dict[str, Any]] = {}
    changed: dict[tuple[str, str], dict[str, Any]] = {}

    def entry_of(target: dict, study: Study, base: dict[str, Any]) -> dict[str, Any]:
        entry = target.get(study.preferred)
        if entry is None:
            first = study.members[0]
            entry = target[study.preferred] = {**base, "source": first["source"], "record_id": first["record_id"],
                                               "title": first.get("title") or base.get("title"),
                                               "url": first.get("url") or base.get("url") or SOURCES[first["source"]].url(first["record_id"]),
                                               "registry_label": first.get("label") or SOURCES[first["source"]].label, "registrations": study.others,
                                               "disagreements": study.disagreements, "changes": [], "queries": ""}
        entry["queries"] = "|".join(dict.fromkeys(q for q in (entry["queries"] + "|" + (base.get("queries") or "")).split("|") if q))
        return entry

    for row in new_rows:
        study = studies[(row["source"], row["record_id"])]
        known = [m for m in study.members if m.get("first_seen_at") and m["first_seen_at"] < start]
        if not known:
            preferred = by_key.get(study.preferred, row)
            entry = entry_of(trials, study, preferred)
            entry.update(phase_label=phase_label(entry.get("phases")), status_label=status_label(entry.get("overall_status")),
                         countries_list=_json_list(entry.get("countries")))
            continue
        member = next(m for m in study.members if (m["source"], m["record_id"]) == (row["source"], row["record_id"]))
        entry = entry_of(changed, study, {**row, "detected_at": row["first_seen_at"]})
        entry.setdefault("descriptions", []).append(
            f"Now also registered in {member['label']} as {row['record_id']} ({member['status_text']})")
    for row in change_rows:
        study = studies[(row["source"], row["record_id"])]
        entry = entry_of(changed, study, row)
        entry["changes"].append(row)
    for entry in changed.values():
        said = [{"text": text, "level": "medium"} for text in entry.get("descriptions") or []]  # newly registered elsewhere
        by_member: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for c in entry["changes"]:
            by_member.setdefault((c["source"], c["record_id"]), []).append(c)
        for key, changes in by_member.items():
            own = key == (entry["source"], entry["record_id"])
            label = "" if own else next((m["label"] for m in entry["registrations"] if (m["source"], m["record_id"]) == key), key[0]) + f" {key[1]}: "
            said.extend({"text": label + s.text, "level": s.level} for s in describe_changes(changes, changes[0]))
            entry["results_posted"] = entry.get("results_posted") or (own and any(c["field"] == "has_results" and c["new_value"] == "true" for c in changes))
        entry["said"] = by_level(said)
        entry["descriptions"] = [s["text"] for s in entry["said"]]
        entry["level"] = entry["said"][0]["level"] if entry["said"] else "low"
        entry["detected_at"] = max([c["detected_at"] for c in entry["changes"]] + [entry.get("detected_at") or ""])
    for entry in trials.values():
        entry["results_posted"] = bool(entry.get("has_results"))
    newest_first = sorted(sorted(changed.values(), key=lambda e: (e["source"], e["record_id"])), key=lambda e: e["detected_at"], reverse=True)
    material_first = by_level(newest_first)  # high first, newest first within a level
    brief_trials([*trials.values(), *material_first])
    return list(trials.values()), material_first


def id_label(source: str, record_id: str, pmid: str | None = None) -> str:
    """A paper's id as a reader knows it: 'PMID 123' wherever there is one, else Europe PMC's (PPR179288, PMC7536260)."""
    pmid = pmid or (record_id if SOURCES[source].scheme == "pmid" else None)
    return f"PMID {pmid}" if pmid else record_id.split(":", 1)[-1]


def _publication_news(store: Store, start: str, end: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The window's new and changed papers of every publication source, one entry per work: PubMed's record, else
    Europe PMC's journal record, else the preprint, marked as one and naming its server; a journal article notes the
    earlier preprint; a copy or version of a work known before the window is not news (its journal version arriving
    for a stored preprint is: the preprint's change says "Now published in ...")."""
    rows = select_new_publications(store, start, end)
    changes = select_publication_changes(store, start, end)
    works = group_works(store, list(dict.fromkeys([(r["source"], r["record_id"]) for r in rows + changes])))
    new_keys = {(r["source"], r["record_id"]) for r in rows}
    by_key = {(r["source"], r["record_id"]): r for r in rows}
    pubs: list[dict[str, Any]] = []
    for p in rows:
        key = (p["source"], p["record_id"])
        work = works[key]
        if work.preferred != key:  # listed under the work's preferred record, or a version of a work known before
            continue
        known = [m for m in work.others if m.get("first_seen_at") and m["first_seen_at"] < start]
        if known and not p.get("is_preprint"):
            continue
        p["badges"] = _badges(p["publication_types"])
        p["author_text"] = _authors(p["authors"])
        p["linked"] = sorted((p["linked_trials"] or "").split(",")) if p["linked_trials"] else []
        p["url"] = SOURCES[p["source"]].url(p["record_id"])
        p["id_label"] = id_label(p["source"], p["record_id"], p.get("pmid"))
        p["versions"] = [m for m in work.others if m.get("is_preprint") or (m["source"], m["record_id"]) in new_keys]
        # the anchors it cites, through any version's citation channel (PubMed's citedin, Europe PMC's citations)
        p["cites"] = sorted({a for m in [p, *work.others] for a in (by_key.get((m["source"], m["record_id"]), {}).get("cited_anchors") or "").split(",") if a})
        pubs.append(p)
    brief_papers(pubs)
    pubs = by_evidence(pubs)
    grouped = _group_changes(changes, "record_id")
    for entry in grouped:
        entry["retracted_now"] = any(c["field"] == "is_retracted" and c["new_value"] == "true" for c in entry["changes"])
        entry["descriptions"], entry["notices"] = describe_publication_changes(entry["changes"], entry)
        entry["url"] = SOURCES[entry["source"]].url(entry["record_id"])
        entry["id_label"] = id_label(entry["source"], entry["record_id"], entry.get("pmid"))
    return pubs, grouped


def _link_news(store: Store, start: str, end: str) -> list[dict[str, Any]]:
    """The window's new trial-paper links, one per study and paper: a paper naming an NCT number that CT.gov and an
    ICTRP copy both carry is one link, to the study's preferred registration."""
    links = select_new_links(store, start, end)
    studies = group_trials(store, list(dict.fromkeys((link["trial_source"], link["trial_id"]) for link in links))) if links else {}
    kept: dict[tuple[Any, ...], dict[str, Any]] = {}
    for link in links:
        preferred = studies[(link["trial_source"], link["trial_id"])].preferred
        entry = kept.setdefault((*preferred, link["pub_source"], link["pub_id"]), {**link, "trial_source": preferred[0], "trial_id": preferred[1]})
        if entry is not link:
            entry["sources"] = ", ".join(dict.fromkeys((entry["sources"] + ", " + link["sources"]).split(", ")))
            entry["queries"] = "|".join(dict.fromkeys(q for q in f"{entry['queries'] or ''}|{link['queries'] or ''}".split("|") if q))
        entry["pub_label"] = id_label(link["pub_source"], link["pub_id"], link.get("pmid"))
    return list(kept.values())


def _not_updated(store: Store, queries: list[Query], start: str, end: str) -> list[dict[str, Any]]:
    """The (line, source) pairs no update touched in the window (a stopped scheduler, a line added since): the digest
    cannot call their week quiet. Said like a failed run, with when the line was last updated."""
    times = select_update_times(store, start, end)
    missing = []
    for source in SOURCES.values():
        for query in queries:
            seen = times.get((source.name, query.name))
            if source.applies(query) and not (seen and seen["in_window"]):
                last = f"last updated {time_label(seen['last_ok'])}" if seen and seen["last_ok"] else "never updated"
                missing.append({"source": source.name, "query": query.name, "status": "not updated",
                                "error": f"no update of this line ran in this window ({last})"})
    return missing


def _baseline_counts(lines: list[Line], trials: list[dict[str, Any]], pubs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records per topic line and source, each record counted under every line that matched it."""
    t = Counter(name for record in trials for name in _names(record))
    p = Counter(name for record in pubs for name in _names(record))
    return [{"name": line.name, "title": line.title, "trials": t.get(line.name, 0), "publications": p.get(line.name, 0)} for line in lines]


BASELINE_RECENCY = {
    "new_trials": lambda t: t.get("first_posted_date") or t.get("start_date") or "",
    "changed_trials": lambda c: c["detected_at"],
    "new_publications": lambda p: p.get("sort_date") or "",
    "changed_publications": lambda c: c["detected_at"],
    "new_links": lambda link: link.get("publication_date") or "",
}


def _keep_most_recent(line: Line) -> None:
    """The baseline shows the BASELINE_SHOWN most recent records per section (registry posting date for trials,
    publication date for papers), papers by evidence level and changes high first as every digest orders them; the
    rest stay counted in `hidden`."""
    for attr, recency in BASELINE_RECENCY.items():
        records = sorted(getattr(line, attr), key=recency, reverse=True)
        shown = records[:BASELINE_SHOWN]  # the most recent, shown in the digest's own order
        if attr == "new_publications":
            shown = by_evidence(shown)
        elif attr == "changed_trials":
            shown = by_level(shown)
        setattr(line, attr, shown)
        if len(records) > BASELINE_SHOWN:
            line.hidden[attr] = records[BASELINE_SHOWN:]


def digest_window(store: Store, *, now: datetime, since: str | None = None, until: str | None = None) -> tuple[str, str]:
    """(start, end) as ISO timestamps: --since/--until dates, else from the end of the previous scheduled digest to
    now. A window that ends in the future is refused: records stored before it ends would be in no digest."""
    end = f"{until}T00:00:00Z" if until else iso(now)
    if end > iso(now):
        raise TrackerError(f"--until {until} ends the window in the future (now is {iso(now)}); give today's date or an earlier one")
    start = f"{since}T00:00:00Z" if since else (select_last_digest_end(store) or EPOCH)
    if start >= end:
        raise TrackerError(f"empty digest window: {start} is not before {end}")
    return start, end


# -- rendering -------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _environment(html: bool):
    """One environment per output kind, kept: Jinja caches compiled templates per environment, and compiling the
    digest templates anew took 30 of the 80 ms of rendering a week at full scale."""
    env = template_environment(html)
    env.filters["when"] = time_label
    env.filters["day"] = date_label
    env.globals["more_links"] = more_links
    env.globals["line_href"] = line_href
    return env


MORE = {  # a section -> the Datasette table of its records, and the kind of record a service's own search gives for it
    "new_trials": ("trials", "trial"), "changed_trials": ("trials", "trial"), "new_publications": ("publications", "publication"),
    "changed_publications": ("publications", "publication"), "new_links": ("trial_publications", None),
}


def more_links(digest: Digest, line: Line, attr: str) -> list[tuple[str, str]]:
    """Where a reader finds the records of the line the baseline cut to its most recent, as (words, url): the
    tracker's own pages when `tracker serve` is reachable (TRACKER_SERVE_URL), and the line's search on each
    service's own site. Links, never a command: the reader of a digest is not the one who runs the tracker."""
    links = []
    table, kind = MORE[attr]
    if digest.serve_url:
        where = "" if table == "trial_publications" else "?" + urlencode({"topic_lines__arraycontains": line.name})
        links.append(("every one stored, in the tracker's database", f"{digest.serve_url}/{DATASETTE_DATABASE}/{table}{where}"))
    links.extend((f"the same search on {s['label']}", s["url"]) for s in line.searches if kind in (None, s["kind"]))
    return links


def line_href(digest: Digest, name: str) -> str | None:
    """The page of a line's digest (reports/lines/NAME/), relative to the page being read; absolute from a mail
    (TRACKER_BASE_URL), or none there without it."""
    page = f"lines/{name}/{digest.file_stem}.html"
    if digest.base_url:
        return f"{digest.base_url.rstrip('/')}/{page}"
    return ("../../" if digest.line_page else "") + page


def render_markdown(digest: Digest) -> str:
    return _environment(False).get_template("digest.md.j2").render(d=digest, labels=SIGNAL_LABELS)


def chart_svg(series: list[tuple[int, int]], *, width: int = 320, height: int = 90) -> dict[str, Any] | None:
    """Bar geometry for a small inline SVG chart (no external assets), or None without data."""
    if not series:
        return None
    first, last = series[0][0], series[-1][0]
    years = list(range(first, last + 1))
    counts = dict(series)
    top = max(counts.values())
    slot = width / len(years)
    bars = []
    for i, year in enumerate(years):
        n = counts.get(year, 0)
        h = 0 if top == 0 else round((height - 20) * n / top, 1)
        bars.append({"x": round(i * slot + 1, 1), "y": round(height - 14 - h, 1), "w": max(round(slot - 2, 1), 1), "h": h, "year": year, "n": n})
    return {"width": width, "height": height, "bars": bars, "first": first, "last": last, "top": top, "total": sum(counts.values())}


def render_html(digest: Digest, *, mail: bool = False) -> str:
    """The digest page; for mail (mail=True) without its charts: inline SVG is dropped by Gmail and Outlook, and the
    page keeps them."""
    charts = {line.name: {k: chart_svg(v) for k, v in line.chart.items()} for line in digest.lines}
    return _environment(True).get_template("digest.html.j2").render(d=digest, charts=charts, labels=SIGNAL_LABELS, mail=mail)


# -- output ----------------------------------------------------------------------------------------

SECTIONS = ("new_trials", "changed_trials", "new_publications", "changed_publications", "new_links")


def line_digest(digest: Digest, line: Line) -> Digest:
    """The digest as one topic line's reader sees it: everything new on that line, its records placed under another
    line in the combined digest included (each saying where else it is), its signals and failed runs."""
    def mine(signal: dict[str, Any]) -> bool:
        return line.name in signal["lines"] or signal["scope"] == line.name

    own = Line(name=line.name, title=line.title, chart=line.chart, hidden=line.hidden, short=line.short, searches=line.searches)
    for attr in SECTIONS:
        items = list(getattr(line, attr))
        for other in digest.lines:
            if other is not line:
                items.extend({**item, "also_in": [n for n in _names(item) if n != line.name]}
                             for item in getattr(other, attr) if line.name in _names(item))
        setattr(own, attr, items)
    return Digest(window_start=digest.window_start, window_end=digest.window_end, lines=[own],
                  failures=[f for f in digest.failures if f["query"] == line.name],
                  raised=[s for s in digest.raised if mine(s)], resolved=[s for s in digest.resolved if mine(s)],
                  baseline=None if digest.baseline is None else [b for b in digest.baseline if b["name"] == line.name],
                  stem=digest.stem, shorts=digest.shorts, serve_url=digest.serve_url, base_url=digest.base_url, line_page=True)


def file_stem_for(store: Store, digest: Digest) -> str:
    """The name of a digest's files: digest-<end date>, unless another window's digest already carries it (two
    digests ending the same day), then with the end's time too: digest-2026-12-04-070000."""
    stem = f"digest-{digest.window_end[:10]}"
    owner = select_digest_stem_owner(store, stem)
    if owner and owner != (digest.window_start, digest.window_end):
        stem += "-" + digest.window_end[11:19].replace(":", "")
    return stem


def write_digest(store: Store, digest: Digest, reports_dir: Path, *, formats: tuple[str, ...], now: datetime, base_url: str | None = None,
                 deliver: Callable[[], object] | None = None, ad_hoc: bool = False) -> list[Path]:
    """Write the chosen formats, hand the digest on (`deliver`: the e-mail), then record it and refresh the Atom
    feeds. A digest is recorded only once every output was written and delivered: on any failure the files it wrote
    are taken away again and the next run covers its window. Files are written whole, then renamed. Each topic line
    also gets its own HTML page of the digest (reports/lines/NAME/), the content of its feed."""
    try:
        reports_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackerError(f"cannot create the report directory {reports_dir}: {exc.strerror}") from None
    digest.stem = file_stem_for(store, digest)
    written: list[Path] = []
    pages: list[Path] = []
    try:
        if "md" in formats:
            written.append(write_text_atomic(reports_dir / f"{digest.file_stem}.md", render_markdown(digest)))
        if "html" in formats:
            written.append(write_text_atomic(reports_dir / f"{digest.file_stem}.html", render_html(digest)))
        if "html" in formats or "atom" in formats:
            for line in digest.lines:
                folder = reports_dir / "lines" / line.name
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise TrackerError(f"cannot create {folder}: {exc.strerror}") from None
                pages.append(write_text_atomic(folder / f"{digest.file_stem}.html", render_html(line_digest(digest, line))))
        if deliver:
            deliver()
        save_digest(
            store,
            created_at=iso(now), window_start=digest.window_start, window_end=digest.window_end, files=[str(p) for p in written],
            summary=digest.summary, incomplete_lines=[f["query"] for f in digest.failures], file_stem=digest.file_stem, ad_hoc=ad_hoc,
        )
    except BaseException:
        for path in written + pages:  # nothing of an undelivered digest stays: the next run writes its window whole
            path.unlink(missing_ok=True)
        raise
    if "atom" in formats:
        written.extend(write_feeds(select_digests(store), reports_dir, lines=[(line.name, line.title) for line in digest.lines],
                                   updated=iso(now), base_url=base_url))
    return written


def digest_subject(digest: Digest) -> str:
    """The e-mail's subject, named as the digest's page names it (the first is the baseline); an incomplete digest
    says so where it is read first, in the inbox."""
    short = "baseline digest" if digest.baseline is not None else "digest"  # the window's end is enough in an inbox
    return f"Hair-loss stem-cell tracker: {short} to {digest.window_end[:10]}" + (" (incomplete)" if digest.failures else "")


MAIL_CLIPPED = 95_000  # bytes of HTML a mail body keeps to, under Gmail's clipping at about 102 kB


def _mail_top(html: str, page: str | None) -> str:
    """A digest too long for a mail body: its head (title, summary, warnings, what needs attention) up to the first
    topic line, then where the rest is: attached, and at its page when TRACKER_BASE_URL says where that is."""
    cut = html.find("<section>\n<h2>")
    if not 0 < cut <= MAIL_CLIPPED - 400:  # a head past the limit itself: cut after its last whole item
        cut = html.rfind("</li>", 0, MAIL_CLIPPED - 400) + len("</li>")
    where = f' and <a href="{page}">at its page</a>' if page else ""
    return (html[:cut] + f'<p class="warning">This digest is longer than a mail body shows: the whole digest is attached{where}.</p>\n'
            "</body>\n</html>\n")


def _page_url(settings: Settings, digest: Digest) -> str | None:
    """The digest's page under TRACKER_BASE_URL (where reports/ is served), or None."""
    if not settings.base_url:
        return None
    return f"{settings.base_url.rstrip('/')}/{digest.file_stem}.html"


def send_digest(settings: Settings, digest: Digest, html: str, markdown: str, *, now: datetime) -> str:
    """E-mail the HTML digest (Markdown as the plain-text part) through the configured SMTP server, with the Date and
    Message-ID headers RFC 5322 asks for (mail servers and spam filters penalise their absence) and RFC 3834's
    Auto-Submitted, which tells mail systems a program sent it."""
    smtp = settings.smtp
    missing = [k for k in ("host", "from", "to") if not smtp.get(k)]
    if missing:
        raise TrackerError(f"e-mail needs TRACKER_SMTP_{missing[0].upper()}")
    message = EmailMessage()
    message["Subject"] = digest_subject(digest)
    message["From"] = smtp["from"]
    recipients = [r.strip() for r in smtp["to"].split(",") if r.strip()]
    message["To"] = ", ".join(recipients)
    message["Date"] = email.utils.format_datetime(now)
    sender_domain = smtp["from"].rpartition("@")[2].strip(" >") or "localhost"
    message["Message-ID"] = email.utils.make_msgid(idstring=f"digest-{digest.window_end[:10]}", domain=sender_domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-reply comes back to the sender
    # RFC 2919 and 2369: mail clients group the digests as one list and offer to leave it (by mail to the sender,
    # unless TRACKER_SMTP_UNSUBSCRIBE names an address or a page)
    message["List-Id"] = f"Hair-loss stem-cell tracker digest <digest.tracker.{sender_domain}>"
    leave = smtp.get("unsubscribe") or f"mailto:{email.utils.parseaddr(smtp['from'])[1]}?subject=unsubscribe"
    message["List-Unsubscribe"] = f"<{leave}>" if ":" in leave else f"<mailto:{leave}?subject=unsubscribe>"
    page = _page_url(settings, digest)
    if page:  # where the whole digest reads as a page: the mail may be clipped, its charts not shown
        markdown = f"View this digest in a browser: {page}\n\n{markdown}"
        html = html.replace("<body>", f'<body>\n<p class="meta"><a href="{page}">View this digest in a browser</a></p>', 1)
    whole = None
    if len(html.encode("utf-8")) > MAIL_CLIPPED:  # Gmail clips a message's HTML past about 102 kB, hiding the rest
        whole = html
        html = _mail_top(html, page)
        if len(markdown.encode("utf-8")) > MAIL_CLIPPED:
            head = markdown[: MAIL_CLIPPED - 400]
            markdown = head[: head.rfind("\n\n")] + "\n\n(This digest is longer than a mail body shows: the whole digest is attached" \
                + (f" and at {page}" if page else "") + ".)\n"
    message.set_content(markdown)
    message.add_alternative(html, subtype="html")
    if whole is not None:
        message.add_attachment(whole.encode("utf-8"), maintype="text", subtype="html", filename=f"{digest.file_stem}.html")
    port = int(smtp.get("port") or 587)
    try:
        with smtplib.SMTP(smtp["host"], port, timeout=30) as server:
            if smtp.get("starttls", "true").lower() not in ("0", "false", "no"):
                server.starttls(context=ssl.create_default_context())
            if smtp.get("user"):
                server.login(smtp["user"], smtp.get("password", ""))
            server.send_message(message, to_addrs=recipients)
    except (OSError, smtplib.SMTPException) as exc:
        raise TrackerError(f"could not e-mail the digest through {smtp['host']}:{port}: {type(exc).__name__}: {exc}") from None
    return ", ".join(recipients)
