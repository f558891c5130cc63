"""Typed records that flow from sources to the store and out to digests, and the form their dates take. No I/O here."""

from __future__ import annotations

import re
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from typing import Any, TypeVar

# A registry or PubMed date as stored: YYYY, YYYY-MM or YYYY-MM-DD (ClinicalTrials.gov gives partial dates).
PARTIAL_DATE_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True)
class Query:
    """One topic line: a queries/*.toml file."""

    name: str
    title: str
    description: str
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # source name -> its table, validated
    path: str = ""
    cites: tuple[str, ...] = ()  # anchor papers whose citers the line follows: "pmid:24468981", "doi:10.1126/science.aaf1635"
    short: str = ""  # a few words naming the line where space is short ("Also in: ..."); its name when not given


@dataclass(frozen=True)
class Check:
    """One check of a claim: its kind (count, none_exists, citation, newer_evidence) and validated parameters."""

    kind: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Claim:
    """One claim of the article, as written in queries/claims.toml."""

    id: str
    wording: str
    where: str
    as_of: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Reference:
    """A study's own citation (ClinicalTrials.gov referencesModule)."""

    pmid: str
    type: str | None  # RESULT | BACKGROUND | DERIVED


@dataclass(frozen=True)
class Trial:
    nct_id: str
    title: str | None
    official_title: str | None = None
    acronym: str | None = None
    overall_status: str | None = None
    why_stopped: str | None = None
    phases: tuple[str, ...] = ()
    study_type: str | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None
    lead_sponsor: str | None = None
    lead_sponsor_class: str | None = None
    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    start_date: str | None = None
    start_date_type: str | None = None
    primary_completion_date: str | None = None
    primary_completion_date_type: str | None = None
    completion_date: str | None = None
    completion_date_type: str | None = None
    first_posted_date: str | None = None
    last_update_posted_date: str | None = None
    results_first_posted_date: str | None = None
    results_first_submit_date: str | None = None  # submitted, in quality control until posted
    disp_first_submit_date: str | None = None  # a certification of delay or an extension request was filed
    is_fda_regulated_drug: bool | None = None
    is_fda_regulated_device: bool | None = None
    has_results: bool = False
    references: tuple[Reference, ...] = ()
    url: str = ""
    identifiers: tuple[tuple[str, str, str], ...] = ()  # (scheme, value, via): every id the record carries, its own first
    raw_json: str = ""

    @property
    def record_id(self) -> str:
        return self.nct_id


@dataclass(frozen=True)
class Registration:
    """A trial as a registry other than ClinicalTrials.gov keeps it (EU CTIS, ISRCTN, a WHO ICTRP export's primary
    registries): the fields every registry gives, named as a Trial's are, in the common vocabulary (status, phases),
    with the registry's own status and phase kept beside them."""

    trial_id: str
    title: str | None
    registry: str = ""  # the registry that issued trial_id, for people (EU CTIS, jRCT, UMIN-CTR ...)
    official_title: str | None = None
    acronym: str | None = None
    overall_status: str | None = None  # the common vocabulary (tracker.vocabulary.STATUSES)
    registry_status: str | None = None  # as the registry says it
    why_stopped: str | None = None
    phases: tuple[str, ...] = ()
    registry_phase: str | None = None
    study_type: str | None = None
    enrollment: int | None = None
    enrollment_type: str | None = None
    lead_sponsor: str | None = None
    conditions: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    start_date: str | None = None
    primary_completion_date: str | None = None
    completion_date: str | None = None  # the end of the trial, as the registry gives it
    first_posted_date: str | None = None  # registered / first published
    last_update_posted_date: str | None = None
    results_first_posted_date: str | None = None
    has_results: bool = False
    results_url: str | None = None
    paediatric: bool | None = None  # the EU results duty is 6 months for a paediatric trial, 12 otherwise
    url: str = ""
    identifiers: tuple[tuple[str, str, str], ...] = ()  # (scheme, value, via): every id the record carries, its own first
    raw_json: str = ""

    @property
    def record_id(self) -> str:
        return self.trial_id


@dataclass(frozen=True)
class Correction:
    """A CommentsCorrections entry that changes how a paper should be read."""

    type: str  # RetractionIn, ErratumIn, ExpressionOfConcernIn, UpdateIn, ...
    pmid: str | None
    source: str | None


@dataclass(frozen=True)
class Publication:
    pmid: str
    version: str | None = None
    title: str | None = None
    abstract: str | None = None
    authors: tuple[str, ...] = ()
    journal: str | None = None
    journal_abbrev: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    pub_date: str | None = None  # as printed, e.g. "2014 Jan 28" or "1998 Dec-1999 Jan"
    sort_date: str | None = None  # YYYY-MM-DD, sortable
    article_date: str | None = None
    entrez_date: str | None = None
    doi: str | None = None
    pmcid: str | None = None
    publication_types: tuple[str, ...] = ()
    mesh_terms: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    language: str | None = None
    nct_ids: tuple[str, ...] = ()  # from DataBankList (ClinicalTrials.gov accession numbers)
    text_nct_ids: tuple[str, ...] = ()  # NCT numbers mentioned in title or abstract
    registrations: tuple[tuple[str, str], ...] = ()  # (scheme, value): trial registrations of any registry in DataBankList
    is_retracted: bool = False
    is_deleted: bool = False
    is_book: bool = False
    corrections: tuple[Correction, ...] = ()
    identifiers: tuple[tuple[str, str, str], ...] = ()  # (scheme, value, via): every id the record carries, its own first
    raw_xml: str = ""

    @property
    def record_id(self) -> str:
        return self.pmid


@dataclass(frozen=True)
class Work:
    """A paper as Europe PMC indexes it: a MEDLINE record (MED), a PMC full text (PMC) or a preprint (PPR), with the
    columns a PubMed Publication's row has under the same names, and what only Europe PMC says: the preprint server
    and version, the journal version a preprint became, the trial ids text-mined from its full text."""

    epmc_id: str  # SOURCE:ID as Europe PMC writes it: MED:32678530, PMC:PMC7536260, PPR:PPR179288
    title: str | None
    source_db: str = ""  # MED | PMC | PPR ...
    pmid: str | None = None
    pmcid: str | None = None
    doi: str | None = None
    abstract: str | None = None
    authors: tuple[str, ...] = ()
    journal: str | None = None
    journal_abbrev: str | None = None
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    pub_date: str | None = None  # as Europe PMC prints it
    sort_date: str | None = None  # YYYY-MM-DD: the first publication (a preprint: posted)
    index_date: str | None = None  # YYYY-MM-DD: first indexed by Europe PMC
    pub_year: int | None = None
    publication_types: tuple[str, ...] = ()
    is_preprint: bool = False
    preprint_server: str | None = None  # medRxiv, bioRxiv, Research Square ...
    version: str | None = None
    published_as: str | None = None  # a preprint's journal version: "MED:32678530"
    published_in: str | None = None  # ... as Europe PMC cites it: "The New England journal of medicine. 2021 Feb;384(8):693-704"
    preprint: str | None = None  # a journal article's earlier preprint: "PPR:PPR179288"
    is_retracted: bool = False
    mined_types: tuple[str, ...] = ()  # the accession types text-mined from its full text (nct, isrctn, eudract ...)
    mentions: tuple[tuple[str, str, str], ...] = ()  # (scheme, value, section) of each trial id its full text names
    url: str = ""
    identifiers: tuple[tuple[str, str, str], ...] = ()  # (scheme, value, via): every id the record carries, its own first
    raw_json: str = ""

    @property
    def record_id(self) -> str:
        return self.epmc_id


@dataclass(frozen=True)
class Change:
    """One tracked field of one record that differs from what was stored."""

    record_id: str
    field: str
    old_value: str | None
    new_value: str | None


@dataclass
class SaveResult:
    fetched: int = 0
    new: int = 0
    changed: int = 0

    def add(self, other: "SaveResult") -> None:
        self.fetched += other.fetched
        self.new += other.new
        self.changed += other.changed


R = TypeVar("R")


@cache
def _template(kind: type) -> tuple[dict[str, Any], frozenset[str]]:
    """A kind's fields in declaration order with their defaults, and the names that have none. A field with a
    default_factory would need a fresh value per record: no record kind has one, so it is refused here."""
    if any(f.default_factory is not MISSING for f in fields(kind)):
        raise TypeError(f"{kind.__name__} has a field with a default_factory; build it with its __init__")
    declared = {f.name: f.default for f in fields(kind)}
    return declared, frozenset(name for name, default in declared.items() if default is MISSING)


def built(kind: type[R], **values: Any) -> R:
    """A record made from its fields without the dataclass __init__, which for a frozen dataclass sets each field
    through object.__setattr__ (parse_study took 25 instead of 21 us a study with it). As __init__ would: fields not given
    take their defaults, a missing required field or a name the kind does not have is a TypeError, and the fields
    keep their declaration order (rows are built from it)."""
    template, required = _template(kind)
    if not (values.keys() <= template.keys() and required <= values.keys()):
        unknown, missing = sorted(values.keys() - template.keys()), sorted(required - values.keys())
        raise TypeError(f"{kind.__name__}: unknown fields {unknown}, missing fields {missing}")
    record = object.__new__(kind)
    record.__dict__.update(template)
    record.__dict__.update(values)
    return record


def as_plain(value: Any) -> Any:
    """Tuples of dataclasses -> lists of dicts, for JSON columns and --json output."""
    if isinstance(value, tuple):
        return [as_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {k: as_plain(getattr(value, k)) for k in value.__dataclass_fields__}
    return value
