"""One study across registries: records of different sources that carry the same trial registration (a CTIS trial
naming NCT0..., an ICTRP copy of a jRCT record, an ISRCTN trial listing its EudraCT number) are one study to a
reader. It is shown once, under its preferred record (the registry order of tracker.sources.SOURCES: CT.gov, then
CTIS, ISRCTN, an ICTRP export's copy), naming every registration with its own status, what tied it, and each field
on which the registries disagree. A merge is a claim with its evidence, never a rewrite: no record's fields are
replaced by another's.

Two records of one registry are never merged, even when they share an id (one EudraCT number registered as two
NCT studies): the registry itself says they are two."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .identifiers import label_for
from .labels import date_label, status_label
from .sources import SOURCES
from .store import Store, select_publication_summaries, select_sharing, select_trial_summaries

ROUNDS = 3  # a study reaches this many hops from a record (CT.gov -> EudraCT -> ICTRP's jRCT copy -> ...)
# a status that says less than another is no disagreement with it (CTIS's "Authorised", ICTRP's "Not recruiting")
COARSE = {
    "ONGOING": {"RECRUITING", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "ENROLLING_BY_INVITATION"},
    "NOT_RECRUITING": {"NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "TERMINATED", "WITHDRAWN", "SUSPENDED"},
}
COMPARED = (("overall_status", "status"), ("start_date", "start"), ("completion_date", "end"))


@dataclass
class Study:
    """One study: its preferred record and every registration (each a summary dict with source, record_id, label,
    status, url, and `tied_by`: the shared identifier that joined it), with the disagreements between them. A study
    of one record holds only its source and id: the caller has its row."""

    preferred: tuple[str, str]
    members: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    supplements: list[str] = field(default_factory=list)  # what only another registration gives, with whose it is

    @property
    def others(self) -> list[dict[str, Any]]:
        return [m for m in self.members if (m["source"], m["record_id"]) != self.preferred]


def _registry(record: tuple[str, str]) -> str:
    return SOURCES[record[0]].registry(record[1]) if record[0] in SOURCES else record[0]


def _rank(record: tuple[str, str]) -> tuple[int, str]:
    order = list(SOURCES)
    return (order.index(record[0]) if record[0] in order else len(order), record[1])


def group_trials(store: Store, records: list[tuple[str, str]]) -> dict[tuple[str, str], Study]:
    """Each trial record -> its study (a record that shares no registration is a study of one)."""
    return group_records(store, "trial", records)


def group_works(store: Store, records: list[tuple[str, str]]) -> dict[tuple[str, str], Study]:
    """Each paper -> its work: the records that share a PMID, PMCID or DOI, or a preprint and the journal version
    it became, under the preferred one (PubMed's, else Europe PMC's journal record, else the preprint)."""
    return group_records(store, "publication", records)


def group_records(store: Store, kind: str, records: list[tuple[str, str]]) -> dict[tuple[str, str], Study]:
    """Each record -> the group of records sharing an identity identifier with it, transitively."""
    parent: dict[tuple[str, str], tuple[str, str]] = {r: r for r in records}
    sources: dict[tuple[str, str], set[str]] = {r: {_registry(r)} for r in records}
    tied: dict[tuple[str, str], str] = {}

    def root(r: tuple[str, str]) -> tuple[str, str]:
        while parent[r] != r:
            parent[r] = parent[parent[r]]
            r = parent[r]
        return r

    frontier = list(dict.fromkeys(records))
    for _ in range(ROUNDS):
        found = select_sharing(store, kind, frontier) if frontier else []
        frontier = []
        for source, record_id, other_source, other_id, scheme, value in found:
            a, b = (source, record_id), (other_source, other_id)
            if b not in parent:
                parent[b], sources[b] = b, {_registry(b)}
                frontier.append(b)
            ra, rb = root(a), root(b)
            if ra == rb or (kind == "trial" and sources[ra] & sources[rb]):  # never two records of one registry in one study
                continue
            parent[rb] = ra
            sources[ra] |= sources.pop(rb)
            tied.setdefault(b, f"{label_for(scheme)} {value}")
            tied.setdefault(a, f"{label_for(scheme)} {value}")
    components: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for r in parent:
        components.setdefault(root(r), []).append(r)
    # a record that shares no identifier is a study of one, which is its own row to every caller: only the records
    # of larger groups are read again (the digest's week: 800 studies of one, 11 ms of reads and words saved)
    grouped = [r for members in components.values() if len(members) > 1 for r in members]
    summaries = (select_trial_summaries if kind == "trial" else select_publication_summaries)(store, grouped) if grouped else {}
    studies: dict[tuple[str, str], Study] = {}
    for members in components.values():
        if len(members) == 1:
            source, record_id = members[0]
            studies[members[0]] = Study(preferred=members[0], members=[{"source": source, "record_id": record_id}])
            continue
        members.sort(key=_rank)
        study = Study(preferred=members[0])
        for m in members:
            summary = dict(summaries.get(m) or {"record_id": m[1]})
            summary.update(source=m[0], label=registry_label(m[0], summary.get("registry")), tied_by=tied.get(m),
                           status_text=status_text(summary) if kind == "trial" else version_text(summary))
            summary["url"] = summary.get("url") or (SOURCES[m[0]].url(m[1]) if m[0] in SOURCES else "")
            study.members.append(summary)
        if kind == "trial":
            study.disagreements = disagreements(study.members)
            study.supplements = supplements(study.members)
        for m in members:
            studies[m] = study
    return {r: studies[r] for r in records}


def registry_label(source: str, registry: str | None) -> str:
    """The registry a registration is of, for people: its source's label, or for an export's copy its registry's
    name and where the copy came from ("JPRN via WHO ICTRP")."""
    label = SOURCES[source].label if source in SOURCES else source
    return f"{registry} via {SOURCES[source].short_label}" if registry and registry != label and SOURCES[source].fetch is None else label


def version_text(summary: dict[str, Any]) -> str:
    """A version of a work as a reader needs it: 'preprint (medRxiv), not peer reviewed, posted 22 Jun 2020'."""
    if summary.get("is_preprint"):
        server = f" ({summary['preprint_server']})" if summary.get("preprint_server") else ""
        return f"preprint{server}, not peer reviewed, posted {date_label(summary.get('sort_date'))}"
    return f"published {date_label(summary.get('sort_date'))}" if summary.get("sort_date") else "journal record"


def status_text(summary: dict[str, Any]) -> str:
    """A registration's status as its registry says it, with the common reading where they differ in words."""
    common = status_label(summary.get("overall_status"))
    own = summary.get("registry_status")
    if not own or own.replace("_", " ").lower() == common.lower():
        return common
    return f"{common} ({own})" if summary.get("overall_status") else own


def _same(field_name: str, a: Any, b: Any) -> bool:
    """Do two registrations say the same? A status that says less than another (COARSE) agrees with it."""
    if field_name == "overall_status":
        return a == b or b in COARSE.get(a, ()) or a in COARSE.get(b, ())
    return str(a)[:7] == str(b)[:7]  # dates: the same month is the same date at the precision registries share


SUPPLIED = (("start_date", "start"), ("primary_completion_date", "primary completion"), ("completion_date", "end"),
            ("enrollment", "enrolment"), ("results_first_posted_date", "results posted"))


def supplements(members: list[dict[str, Any]]) -> list[str]:
    """The fields the preferred registration leaves empty that another gives ("end: Mar 2031 (EU CTIS)"): added to
    the reader's view with whose they are, never written into the preferred record."""
    first, said = members[0], []
    for column, name in SUPPLIED:
        if first.get(column) is None:
            giver = next((m for m in members[1:] if m.get(column) is not None), None)
            if giver:
                value = giver[column] if column == "enrollment" else date_label(giver[column])
                said.append(f"{name}: {value} ({giver['label']} {giver['record_id']})")
    return said


def disagreements(members: list[dict[str, Any]]) -> list[str]:
    """Each compared field on which two registrations say different things, in words: 'status: ClinicalTrials.gov
    Recruiting; EU CTIS Ended'. Unknown values are not disagreements."""
    said = []
    for column, name in COMPARED:
        values = [(m["label"], m.get(column)) for m in members if m.get(column)]
        if len(values) > 1 and any(not _same(column, values[0][1], v) for _, v in values[1:]):
            shown = (lambda m: m["status_text"]) if column == "overall_status" else (lambda m: date_label(m.get(column)))
            said.append(f"{name}: " + "; ".join(f"{m['label']} {m['record_id']} {shown(m)}" for m in members if m.get(column)))
    return said
