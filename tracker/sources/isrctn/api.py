"""The ISRCTN registry's API (https://www.isrctn.com/api): a search answers every trial at once (no paging), so a
line is counted first (format default, limit=0) and then asked for that many in the WHO format, which carries the
recruitment status and the secondary ids (NCT, EudraCT, IRAS ...). A window is the search AND lastEdited GE the
window's start. Parsing the WHO XML into Registrations is here too."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any, Iterator

from lxml import etree

from ...http import HttpClient, RetryableBody
from ...identifiers import TRIAL_SCHEMES, normalise, recognise, url_for
from ...models import Query, Registration, built
from ..base import Batch, not_xml, short_batch
from ..fields import CleanFields, text
from ..registrations import phases_of

log = logging.getLogger("tracker.isrctn")

NS = "{http://www.67bricks.com/isrctn}"
STATUSES = {  # recruitment_status as ISRCTN writes it -> the common vocabulary
    "recruiting": "RECRUITING",
    "not yet recruiting": "NOT_YET_RECRUITING",
    "no longer recruiting": "NOT_RECRUITING",  # ISRCTN does not say whether the trial still runs or has ended
    "suspended": "SUSPENDED",
    "stopped": "TERMINATED",
    "completed": "COMPLETED",
    "withdrawn": "WITHDRAWN",
}
AUTHORITIES = {"clinicaltrials.gov": "nct", "eudract": "eudract", "ctis": "euct"}  # issuing_authority -> the scheme read first
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)


def _xml(body: bytes) -> etree._Element:
    try:
        return etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError:
        raise RetryableBody(not_xml(body)) from None


def parse_count(body: bytes) -> int:
    root = _xml(body)
    total = root.get("totalCount")
    if root.tag != f"{NS}allTrials" or total is None or not total.isdigit():
        raise RetryableBody("an ISRCTN answer without its totalCount")
    return int(total)


def parse_who(body: bytes) -> list[Registration]:
    root = _xml(body)
    if root.tag != "trials":
        raise RetryableBody("an ISRCTN answer that is not a list of trials")
    return [parse_trial(trial) for trial in root.iterfind("trial") if text(trial.findtext("main/trial_id"))]


def window_query(q: str, since: date | None) -> str:
    return f"({q}) AND lastEdited GE {since.isoformat()}T00:00:00.000Z" if since else q


def fetch_count(client: HttpClient, base_url: str, q: str) -> int:
    return client.get(base_url.rstrip("/") + "/query/format/default", {"q": q, "limit": "0"}, parse=parse_count)


def fetch_trials(client: HttpClient, base_url: str, q: str, limit: int) -> list[Registration]:
    return client.get(base_url.rstrip("/") + "/query/format/who", {"q": q, "limit": str(limit)}, parse=parse_who)


def fetch_line(client: HttpClient, settings: Any, query: Query, since: date | None, now: datetime) -> Iterator[Batch]:
    """The line's trials edited since the window's start (all of them without one): counted, then fetched at once."""
    q = window_query(query.params["isrctn"]["q"], since)
    total = fetch_count(client, settings.isrctn_url, q)
    if total == 0:
        yield Batch([], 0)
        return
    trials = fetch_trials(client, settings.isrctn_url, q, total)
    yield Batch(trials, total)
    got = len({t.trial_id for t in trials})
    if got < total:
        yield short_batch("ISRCTN", query.name, f"ISRCTN counted {total} trials and returned {got} ({total - got} missing)",
                          total, later="the next run asks for the window again")


def _texts(element: etree._Element, path: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t for t in (text(e.text) for e in element.iterfind(path)) if t))


def trial_identifiers(trial_id: str, trial: etree._Element) -> tuple[tuple[str, str, str], ...]:
    """The ISRCTN number, then each secondary id: read in the scheme its issuing authority names, else recognised
    by pattern, else kept as 'other' (IRAS, CPMS and sponsors' protocol numbers name no registration)."""
    found: dict[tuple[str, str], str] = {("isrctn", normalise("isrctn", trial_id) or trial_id): "own"}
    for secondary in trial.iterfind("secondary_ids/secondary_id"):
        value = text(secondary.findtext("sec_id"))
        if not value:
            continue
        authority = (text(secondary.findtext("issuing_authority")) or "").lower()
        scheme = next((s for key, s in AUTHORITIES.items() if key in authority), None)
        typed = normalise(scheme, value) if scheme else None
        scheme_value = (scheme, typed) if typed else recognise(value, TRIAL_SCHEMES) or ("other", value)
        found.setdefault(scheme_value, "secondary_id")
    return tuple((scheme, value, via) for (scheme, value), via in found.items())


def parse_trial(trial: etree._Element) -> Registration:
    main = trial.find("main")
    get = lambda name: text(main.findtext(name)) if main is not None else None  # noqa: E731
    trial_id = get("trial_id") or ""
    read = CleanFields(trial_id)
    status = get("recruitment_status")
    enrolment_type = (get("type_enrolment") or "").lower()
    results_posted = get("results_date_posted") or get("results_date_first_publication")
    results_url = get("results_url_link")
    fields = {e.tag: text(e.text) for e in (main if main is not None else ()) if text(e.text)}
    return built(
        Registration,
        trial_id=trial_id,
        registry="ISRCTN",
        title=get("public_title"),
        official_title=get("scientific_title"),
        acronym=get("acronym"),
        overall_status=STATUSES.get((status or "").lower(), "UNKNOWN" if status else None),
        registry_status=status,
        phases=phases_of(get("phase")),
        registry_phase=get("phase"),
        study_type=(get("study_type") or "").upper() or None,
        enrollment=read.whole(get("target_size"), "target_size", free_text=True),
        enrollment_type="ACTUAL" if enrolment_type == "actual" else "ESTIMATED" if enrolment_type else None,
        lead_sponsor=get("primary_sponsor"),
        conditions=tuple(dict.fromkeys(c for c in (get("hc_freetext"), *_texts(trial, "health_condition_keyword/hc_keyword")) if c)),
        interventions=tuple(i for i in (get("i_freetext"),) if i),
        countries=_texts(trial, "countries/country2"),
        start_date=read.day(get("date_enrolment"), "date_enrolment"),
        completion_date=read.day(get("results_date_completed"), "results_date_completed"),
        first_posted_date=read.day(get("date_registration"), "date_registration"),
        results_first_posted_date=read.day(results_posted, "results_date_posted"),
        has_results=bool(results_posted or results_url or get("results_summary")),
        results_url=results_url,
        url=get("url") or url_for("isrctn", trial_id),
        identifiers=trial_identifiers(trial_id, trial),
        raw_json=json.dumps({"main": fields, "secondary_ids": [[text(s.findtext("sec_id")), text(s.findtext("issuing_authority"))] for s in trial.iterfind("secondary_ids/secondary_id")],
                             "countries": list(_texts(trial, "countries/country2"))}, ensure_ascii=False, sort_keys=True),
    )
