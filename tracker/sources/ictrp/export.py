"""A WHO ICTRP portal export ("Export results to XML": <Trials_downloaded_from_ICTRP>, one flat <Trial> per
registration) read as Registrations of their own registries: jRCT, UMIN, ChiCTR, IRCT, CTRI, DRKS, ANZCTR, CRiS,
OMON, EUCTR, and copies of ClinicalTrials.gov, CTIS and ISRCTN records. Values are stripped of the export's
trailing newlines and indents. An EUCTR trial exported once per member state (EUCTR2019-001698-10-DE, -ES ...) is
one trial, its countries and statuses gathered. Pure: the file is read by the caller."""

from __future__ import annotations

import functools
import json
import re

from lxml import etree

from ...errors import TrackerError
from ...identifiers import SCHEMES, TRIAL_SCHEMES, WHO_TRIAL_URL, label_for, recognise
from ...models import Registration, built
from ..fields import CleanFields, text
from ..registrations import phases_of, trial_ids

ROOT = "Trials_downloaded_from_ICTRP"
LEFT_OUT = ("Export_date",)  # the export's, not the trial's: an unchanged trial in a newer export is unchanged
PRIVATE = ("Contact_",)  # people's names, e-mails and phones: published, but the tracker has no use for them
EUCTR_RE = re.compile(r"^(EUCTR\d{4}-\d{6}-\d{2})(?:-([A-Z]{2,3}))?$")
STATUSES = {  # Recruitment_Status, lower-cased (the export's case varies) -> the common vocabulary
    "recruiting": "RECRUITING",
    "not recruiting": "NOT_RECRUITING",
    "not yet recruiting": "NOT_YET_RECRUITING",
    "authorised": "ONGOING",
    "completed": "COMPLETED",
    "suspended": "SUSPENDED",
    "terminated": "TERMINATED",
    "withdrawn": "WITHDRAWN",
}
BREAK_RE = re.compile(r"<br\s*/?>", re.IGNORECASE)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


@functools.lru_cache(maxsize=65_536)
def registration_of(trial_id: str) -> tuple[str, str] | None:
    """(scheme, normal form) of an ICTRP TrialID: the registry's own number under ICTRP's prefixes (JPRN-, CTIS,
    EUCTR ... -DE). Kept per process: a search asks it twice a hit (the page, the registry), each time trying
    every registry's pattern in turn (a millisecond of a search over six tables)."""
    return recognise(trial_id, TRIAL_SCHEMES)


def registry_of(trial_id: str) -> str:
    """The registry an export's record is a copy of (ictrp:jrct, ictrp:nct ...): two copies of one registry's
    records are two trials, copies of two registries' may be one study."""
    found = registration_of(trial_id)
    return f"ictrp:{found[0] if found else 'other'}"


def ictrp_url(trial_id: str) -> str:
    """The registry's own page where the tracker knows it (CT.gov, CTIS, ISRCTN, jRCT, DRKS, EudraCT), else the WHO
    portal's page of the trial."""
    found = registration_of(trial_id)
    if found and SCHEMES[found[0]].url != WHO_TRIAL_URL:
        return SCHEMES[found[0]].url_for(found[1])
    return WHO_TRIAL_URL.format(trial_id)


def _fields(trial: etree._Element) -> dict[str, str]:
    """A <Trial>'s leaf fields, stripped; the export's own and private ones left out."""
    found: dict[str, str] = {}
    for element in trial:
        if not isinstance(element.tag, str) or element.tag in LEFT_OUT or element.tag.startswith(PRIVATE):
            continue
        value = BREAK_RE.sub("\n", element.text or "").strip()  # line breaks exported as escaped <br> tags
        if value:
            found[element.tag] = value
    return found


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in (text(p) for p in (value or "").split(";")) if t))


def parse_export(body: bytes, *, name: str = "the file") -> list[Registration]:
    """Every registration of an export, EUCTR's member-state copies folded into one trial each; a file that is not
    an ICTRP export is one clear error."""
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError as exc:
        raise TrackerError(f"{name} is not readable XML ({exc.msg}); export the search again from the ICTRP portal") from None
    if root.tag != ROOT:
        raise TrackerError(f"{name} is not a WHO ICTRP export (its root is <{root.tag}>, an export's is <{ROOT}>)")
    copies: dict[str, list[tuple[str | None, dict[str, str]]]] = {}
    for trial in root.iterfind("Trial"):
        fields = _fields(trial)
        trial_id = " ".join(fields.get("TrialID", "").split())
        if not trial_id:
            continue
        euctr = EUCTR_RE.match(trial_id)
        key, country = (euctr.group(1), euctr.group(2)) if euctr else (trial_id, None)
        copies.setdefault(key, []).append((country, fields))
    return [_registration(key, sorted(found, key=lambda c: c[0] or "")) for key, found in copies.items()]


def _registration(trial_id: str, copies: list[tuple[str | None, dict[str, str]]]) -> Registration:
    """One trial from its copies (one, or one per EU member state): the first copy's fields, the countries of all,
    each copy's status where they differ."""
    first = copies[0][1]
    read = CleanFields(trial_id)
    statuses = {country: text(fields.get("Recruitment_Status")) for country, fields in copies}
    distinct = sorted({s for s in statuses.values() if s}, key=str.lower)
    common = {STATUSES.get(s.lower(), "UNKNOWN") for s in distinct}
    if len(copies) > 1 and len(distinct) > 1:
        registry_status = "; ".join(f"{country}: {status or 'not given'}" for country, status in statuses.items())
    else:
        registry_status = distinct[0] if distinct else None
    countries = tuple(dict.fromkeys(c for _, fields in copies for c in _split(fields.get("Countries"))))
    own = registration_of(trial_id) or ("other", trial_id)
    secondary = [s for _, fields in copies for s in _split(fields.get("Secondary_ID"))]
    results = text(first.get("results_yes_no"))
    results_url = text(first.get("results_url_link"))
    register = text(first.get("Source_Register"))
    return built(
        Registration,
        trial_id=trial_id,
        registry=register or label_for(own[0]),
        title=text(first.get("Public_title")),
        official_title=text(first.get("Scientific_title")),
        acronym=text(first.get("Acronym")),
        overall_status=common.pop() if len(common) == 1 else None,  # member states that disagree: said in registry_status
        registry_status=registry_status,
        phases=phases_of(first.get("Phase")),
        registry_phase=text(first.get("Phase")),
        study_type=(text(first.get("Study_type")) or "").upper() or None,
        enrollment=read.whole(first.get("Target_size"), "Target_size", free_text=True),
        lead_sponsor=text(first.get("Primary_sponsor")),
        conditions=_split(first.get("Condition")),
        interventions=_split(first.get("Intervention")),
        countries=countries,
        start_date=read.day(first.get("Date_enrollement"), "Date_enrollement"),
        first_posted_date=read.day(first.get("Date_registration3"), "Date_registration3") or read.day(first.get("Date_registration"), "Date_registration"),
        last_update_posted_date=read.day(first.get("Last_Refreshed_on"), "Last_Refreshed_on"),
        results_first_posted_date=read.day(first.get("results_date_posted"), "results_date_posted"),
        has_results=(results or "").lower() == "yes" or bool(results_url),
        results_url=results_url,
        url=ictrp_url(trial_id),
        identifiers=tuple(trial_ids(secondary, own)),
        raw_json=json.dumps({c or "": f for c, f in copies}, ensure_ascii=False, sort_keys=True),
    )
