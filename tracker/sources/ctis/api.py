"""The EU CTIS public API (https://euclinicaltrials.eu/ctis-public-api): POST /search pages of trial overviews, GET
/retrieve/{ctNumber} for a trial's full record, and the parsing of both into a Registration.

CTIS has no last-updated filter, so every run asks a line's whole search again (a topic's handful of trials, a
page or two) and fetches the full record only of a trial that is new or whose lastUpdated moved since it was
stored: a run with nothing new retrieves nothing."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime
from typing import Any, Callable, Iterator

from ...http import HttpClient, RetryableBody
from ...identifiers import url_for
from ...models import Query, Registration, built
from ..base import Batch, json_answer, short_batch
from ..rows import dig, listed
from ..fields import CleanFields, day, text
from ..registrations import phases_of, registered_as, trial_ids
from .vocabulary import PAEDIATRIC_AGE_GROUPS, STATUS_CODES

log = logging.getLogger("tracker.ctis")

PAGE_SIZE = 100
MAX_RESULTS = 10_000  # CTIS answers at most this many trials to one search
SORT = {"property": "decisionDate", "direction": "DESC"}  # clients found the search refuses a body without it
Versions = Callable[[list[str]], "dict[str, str | None]"]  # ids -> the last_update_posted_date stored for each


def parse_search_page(body: bytes) -> dict[str, Any]:
    """A /search answer: {pagination, data}. A cut-off page, an HTML page or an answer without its list is asked again."""
    page = json_answer(body, dict, "a CTIS search answer that is not an object")
    if not isinstance(page.get("data"), list) or not isinstance(page.get("pagination"), dict):
        raise RetryableBody("a CTIS search answer without its list of trials")
    return page


def parse_retrieve(body: bytes) -> dict[str, Any]:
    """A /retrieve answer: the trial (an empty object {} for a number CTIS does not hold)."""
    return json_answer(body, dict, "a CTIS trial answer that is not an object")


def search_body(criteria: dict[str, Any], page: int, size: int | None = None) -> dict[str, Any]:
    return {"pagination": {"page": page, "size": size or PAGE_SIZE}, "sort": SORT, "searchCriteria": criteria}


def fetch_overviews(client: HttpClient, base_url: str, criteria: dict[str, Any]) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
    """Every page of a search: (its overviews, the total CTIS counted). Paging stops at the last page CTIS names
    (nextPage false, or totalPages reached) and never goes on past an empty page."""
    page = 1
    while True:
        answer = client.post(base_url.rstrip("/") + "/search", json_body=search_body(criteria, page), parse=parse_search_page)
        pagination = answer["pagination"]
        overviews = [o for o in answer["data"] if isinstance(o, dict) and text(o.get("ctNumber"))]
        total = pagination.get("totalRecords") if isinstance(pagination.get("totalRecords"), int) else None
        yield overviews, total
        last = pagination.get("totalPages")
        if not overviews or not pagination.get("nextPage") or (isinstance(last, int) and page >= last) or page * PAGE_SIZE >= MAX_RESULTS:
            return
        page += 1


def fetch_trial(client: HttpClient, base_url: str, ct_number: str) -> dict[str, Any]:
    return client.get(base_url.rstrip("/") + f"/retrieve/{ct_number}", parse=parse_retrieve)


def fetch_line(client: HttpClient, settings: Any, query: Query, since: date | None, now: datetime, *,
               stored_versions: Versions | None = None) -> Iterator[Batch]:
    """A line's trials: the whole search, then the full record of each trial new to the store or updated since it
    was stored (CTIS's lastUpdated against the stored one); the others are reported as returned, unchanged."""
    criteria = query.params["ctis"]
    seen: list[str] = []
    counted: int | None = None
    for overviews, total in fetch_overviews(client, settings.ctis_url, criteria):
        counted = total if total is not None else counted
        ids = [text(o["ctNumber"]) for o in overviews]
        stored = stored_versions(ids) if stored_versions else {}
        fresh, unchanged = [], []
        for overview, ct_number in zip(overviews, ids):
            seen.append(ct_number)
            if ct_number in stored and stored[ct_number] == day(overview.get("lastUpdated")) and since is not None:
                unchanged.append(ct_number)
                continue
            detail = fetch_trial(client, settings.ctis_url, ct_number)
            fresh.append(parse_trial(overview, detail))
        yield Batch(fresh, total, unchanged=unchanged)
    if counted is not None and len(set(seen)) < min(counted, MAX_RESULTS):
        missing = min(counted, MAX_RESULTS) - len(set(seen))
        yield short_batch("CTIS", query.name, f"CTIS counted {counted} trials and returned {len(set(seen))} ({missing} missing)",
                          counted, later="the next run asks the whole search again")


def count(client: HttpClient, settings: Any, criteria: dict[str, Any]) -> int:
    answer = client.post(settings.ctis_url.rstrip("/") + "/search", json_body=search_body(criteria, 1, size=1), parse=parse_search_page)
    total = answer["pagination"].get("totalRecords")
    return total if isinstance(total, int) else len(answer["data"])


# -- parsing -----------------------------------------------------------------------------------------

def _split(read: CleanFields, value: Any, name: str) -> tuple[str, ...]:
    """A CTIS list written as one comma-separated string (conditions, products), each item once."""
    raw = read.text(value, name)
    return tuple(dict.fromkeys(p.strip() for p in raw.split(", ") if p.strip())) if raw else ()


def _status(read: CleanFields, overview: dict[str, Any], detail: dict[str, Any]) -> tuple[str | None, str | None]:
    """(common status, CTIS's label) from the public status code: the full record's ctPublicStatusCode, else the
    overview's ctStatus (a number in search answers)."""
    code = detail.get("ctPublicStatusCode")
    if code is not None and not (isinstance(code, int) and not isinstance(code, bool)):
        code = read.whole(code, "ctPublicStatusCode")
    code = code if isinstance(code, int) else overview.get("ctStatus")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    if isinstance(code, int) and code in STATUS_CODES:
        label, common = STATUS_CODES[code]
        return common, label
    label = read.text(detail.get("ctStatus"), "ctStatus") or (read.text(code, "ctStatus") if code is not None else None)
    return ("UNKNOWN" if label else None), label


def trial_identifiers(ct_number: str, detail: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """The EU CT number, the NCT and ISRCTN cross-registrations, the EudraCT number of a trial moved over from
    EudraCT, and other registries' numbers (recognised by pattern, else kept as 'other')."""
    own = registered_as("euct", ct_number) or ("other", ct_number)
    numbers = dig(detail, "authorizedApplication", "authorizedPartI", "trialDetails", "clinicalTrialIdentifiers", "secondaryIdentifyingNumbers") or {}
    found = [dig(numbers, "nctNumber", "number"), dig(numbers, "isrctnNumber", "number"),
             dig(detail, "authorizedApplication", "eudraCt", "eudraCtCode"),
             *(dig(r, "number") for r in listed(dig(numbers, "additionalRegistries")))]
    ids = trial_ids([str(f) for f in found if f], own)
    utn = dig(numbers, "whoUniversalTrialNumber", "number")
    if text(utn):
        ids.append(("other", text(utn), "secondary_id"))  # the WHO universal trial number names no registration
    return tuple(dict.fromkeys(ids))


def parse_trial(overview: dict[str, Any], detail: dict[str, Any]) -> Registration:
    """One trial from its search overview and its full record (an empty full record leaves the overview's fields).
    Every field is read in its documented form or said (fields.py); the payload keeps what came."""
    ct_number = text(overview.get("ctNumber")) or text(detail.get("ctNumber")) or ""
    read = CleanFields(ct_number)
    part1 = read.obj(dig(detail, "authorizedApplication", "authorizedPartI"), "authorizedPartI")
    names = read.obj(dig(part1, "trialDetails", "clinicalTrialIdentifiers"), "clinicalTrialIdentifiers")
    information = read.obj(dig(part1, "trialDetails", "trialInformation"), "trialInformation")
    status, label = _status(read, overview, detail)
    conditions = tuple(dict.fromkeys(c for c in (read.text(dig(m, "medicalCondition"), "medicalCondition") for m in read.items(dig(information, "medicalCondition", "partIMedicalConditions"), "partIMedicalConditions")) if c)) \
        or _split(read, overview.get("conditions"), "conditions")
    products = tuple(dict.fromkeys(p for p in (read.text(dig(p, "productDictionaryInfo", "prodName"), "prodName") for p in read.items(part1.get("products"), "products")) if p)) \
        or _split(read, overview.get("product"), "product")
    countries = tuple(dict.fromkeys(c for c in (text(c.split(":")[0]) for c in read.strings(overview.get("trialCountries"), "trialCountries")) if c)) \
        or tuple(dict.fromkeys(c for c in (read.text(dig(m, "mscName"), "mscName") for m in read.items(dig(detail, "authorizedApplication", "memberStatesConcerned"), "memberStatesConcerned")) if c))
    age_groups = (read.text(overview.get("ageGroup"), "ageGroup") or "").lower()
    results = detail.get("results")
    received = read.flag(overview.get("resultsFirstReceived"), "resultsFirstReceived", words={"yes": True, "no": False}, documented=True)
    has_results = bool(received) or bool(isinstance(results, dict) and results)
    enrollment = read.whole(overview.get("totalNumberEnrolled"), "totalNumberEnrolled")  # CTIS writes it as text ("64")
    if enrollment is None:
        enrollment = read.whole(part1.get("rowSubjectCount"), "rowSubjectCount", documented_text=False)
    duration = read.obj(information.get("trialDuration"), "trialDuration")
    return built(
        Registration,
        trial_id=ct_number,
        registry="EU CTIS",
        title=read.text(names.get("publicTitle"), "publicTitle") or read.text(overview.get("ctTitle"), "ctTitle"),
        official_title=read.text(names.get("fullTitle"), "fullTitle") or read.text(overview.get("ctTitle"), "ctTitle"),
        acronym=read.text(names.get("shortTitle"), "shortTitle") or read.text(overview.get("shortTitle"), "shortTitle"),
        overall_status=status,
        registry_status=label,
        phases=phases_of(read.text(overview.get("trialPhase"), "trialPhase")),
        registry_phase=read.text(overview.get("trialPhase"), "trialPhase"),
        study_type="INTERVENTIONAL",  # CTIS registers clinical trials of medicinal products only
        enrollment=enrollment,
        enrollment_type="ESTIMATED" if enrollment is not None else None,  # the subjects planned in the application
        lead_sponsor=read.text(overview.get("sponsor"), "sponsor"),
        conditions=conditions,
        interventions=products,
        countries=countries,
        start_date=read.day(overview.get("startDateEU"), "startDateEU") or read.day(duration.get("estimatedRecruitmentStartDate"), "estimatedRecruitmentStartDate"),
        completion_date=read.day(overview.get("endDateEU"), "endDateEU") or read.day(duration.get("estimatedGlobalEndDate"), "estimatedGlobalEndDate")
        or read.day(duration.get("estimatedEndDate"), "estimatedEndDate"),
        first_posted_date=read.day(detail.get("publishDate"), "publishDate") or read.day(overview.get("decisionDateOverall"), "decisionDateOverall"),
        last_update_posted_date=read.day(overview.get("lastUpdated"), "lastUpdated"),
        has_results=has_results,
        paediatric=any(group in age_groups for group in PAEDIATRIC_AGE_GROUPS) if age_groups else None,
        url=url_for("euct", ct_number),
        identifiers=trial_identifiers(ct_number, detail),
        raw_json=json.dumps({"overview": overview, "trial": detail}, ensure_ascii=False, sort_keys=True),
    )


def lookup(client: HttpClient, settings: Any, ct_number: str) -> str | None:
    """The registry sweep's question: does CTIS still hold this trial? (None: it answers {} for the number.)"""
    trial = fetch_trial(client, settings.ctis_url, ct_number)
    return (text(trial.get("ctNumber")) or ct_number) if trial else None


def returned(client: HttpClient, settings: Any, ids: list[str], criteria: dict[str, Any] | None) -> tuple[set[str], int]:
    """Which of `ids` a line's search returns today, with the requests made. CTIS cannot be searched by a list of
    numbers: without a line's criteria nothing is answered here, and the sweep retrieves each number (lookup)."""
    if criteria is None or not ids:
        return set(), 0
    found: set[str] = set()
    requests = 0
    for overviews, _ in fetch_overviews(client, settings.ctis_url, criteria):
        requests += 1
        found.update(text(o["ctNumber"]) for o in overviews)
    return found & set(ids), requests
