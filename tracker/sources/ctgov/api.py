"""ClinicalTrials.gov API v2: fetch_studies pages through /studies; parse_study turns one study into a Trial; the
registry sweep's questions (fetch_returned_ids, fetch_registry_status). The only module that knows CT.gov's JSON
paths (identity.py reads the identification module's ids). It never touches the store."""

from __future__ import annotations

import json
import logging
from array import array
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Iterator
from urllib.parse import urlencode

from ...errors import ApiError, HttpError, TrackerError
from ...http import HttpClient, RetryableBody
from ...gc_pause import gc_paused
from ...models import Query, Reference, Trial, built
from ..base import Batch, brief_list, json_answer, not_json, short_batch
from ..fields import Fields
from ..rows import dig
from .identity import study_identifiers

log = logging.getLogger("tracker.ctgov")

PAGE_SIZE = 1000
EMPTY_PAGES = 3  # empty pages in a row followed while the count the service gave is not reached
STUDY_URL = "https://clinicaltrials.gov/study/{}"


@dataclass
class Page:
    studies: list[dict[str, Any]]
    total_count: int | None
    next_page_token: str | None
    raw: list[str] | None = None  # each study's JSON text as received


_DECODER = json.JSONDecoder()
_SPACE = " \t\n\r"


def _split_page(text: str) -> tuple[dict[str, Any], list[str]]:
    """Decode a /studies page, keeping each study's own text: the top-level object is walked by hand and every
    study decoded with raw_decode, so raw_json is the API's text as received, with no second serialisation."""
    decode = _DECODER.raw_decode
    raws: list[str] = []
    data: dict[str, Any] = {}

    def skip(i: int) -> int:
        while i < len(text) and text[i] in _SPACE:
            i += 1
        return i

    i = skip(0)
    if text[i : i + 1] != "{":
        raise ValueError("not an object")
    i = skip(i + 1)
    while text[i : i + 1] != "}":
        key, i = decode(text, i)
        i = skip(i)
        if text[i : i + 1] != ":":
            raise ValueError("expected ':'")
        i = skip(i + 1)
        if key == "studies" and text[i : i + 1] == "[":
            studies = []
            i = skip(i + 1)
            while text[i : i + 1] != "]":
                start = i
                study, i = decode(text, i)
                studies.append(study)
                raws.append(text[start:i])
                i = skip(i)
                if text[i : i + 1] == ",":
                    i = skip(i + 1)
                elif text[i : i + 1] != "]":
                    raise ValueError("expected ',' or ']'")
            value, i = studies, i + 1
        else:
            value, i = decode(text, i)
        data[key] = value
        i = skip(i)
        if text[i : i + 1] == ",":
            i = skip(i + 1)
        elif text[i : i + 1] != "}":
            raise ValueError("expected ',' or '}'")
    if skip(i + 1) != len(text):
        raise ValueError("trailing data")
    return data, raws


def parse_json_page(body: bytes) -> dict[str, Any]:
    """A /studies page as a dict; "_raw" holds each study's text. A cut-off or malformed page is asked for again."""
    try:
        with gc_paused():
            data, raws = _split_page(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, IndexError):
        raise RetryableBody(not_json(body)) from None
    if not isinstance(data.get("studies"), list):
        # an answer without "studies" (an error object, a proxy's JSON) must not pass for an empty result
        raise RetryableBody("JSON page without a list of studies")
    data["_raw"] = raws
    return data


def search_params(query: Query, *, since: date | None = None, page_size: int = PAGE_SIZE) -> dict[str, str]:
    """The /studies parameters for a topic line; since adds the LastUpdatePostDate window."""
    params = dict(query.params.get("ctgov") or {})
    if since is not None:
        window = f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"
        own = params.get("filter.advanced")
        params["filter.advanced"] = f"({own}) AND {window}" if own else window
    params["pageSize"] = str(page_size)
    params["format"] = "json"
    return params


def fetch_studies(client: HttpClient, base_url: str, params: dict[str, str]) -> Iterator[Page]:
    """Yield every page of a /studies search, following nextPageToken until it is absent. An empty page ends the
    search once the count the service gave is reached (or when it gave none); before that, up to EMPTY_PAGES empty
    pages in a row are followed, so a hiccup does not cut the search short. A token the service already gave, or
    pages running far past the count it gave, is an ApiError (a broken paging would otherwise loop forever);
    records added while paging stay well inside that margin."""
    url = base_url.rstrip("/") + "/studies"
    token: str | None = None
    used: set[str] = set()
    first = True
    fetched, counted, empty = 0, None, 0
    while True:
        page_params = dict(params)
        if first:
            page_params["countTotal"] = "true"
        if token:
            page_params["pageToken"] = token
        data = client.get(url, page_params, parse=parse_json_page)
        studies = data.get("studies") or []
        token = data.get("nextPageToken") or None
        if token is not None and not isinstance(token, str):
            raise ApiError(f"ClinicalTrials.gov answered a nextPageToken that is not text ({json.dumps(token)[:40]})")
        if token in used:
            raise ApiError(f"ClinicalTrials.gov answered the same nextPageToken twice ({token[:40]}); stopped instead of looping")
        if token:
            used.add(token)
        if first and isinstance(data.get("totalCount"), int):
            counted = data["totalCount"]
        fetched += len(studies)
        if counted is not None and fetched > counted + max(1000, counted // 10):
            raise ApiError(f"ClinicalTrials.gov kept paging past {fetched - len(studies):,} studies for a search it counted "
                           f"{counted:,}; stopped instead of looping")
        yield Page(studies=studies, total_count=data.get("totalCount") if first else None, next_page_token=token, raw=data.get("_raw"))
        first = False
        empty = 0 if studies else empty + 1
        if not token or (empty and (counted is None or fetched >= counted or empty > EMPTY_PAGES)):
            return


def fetch_count(client: HttpClient, base_url: str, params: dict[str, str]) -> int:
    """totalCount of a search, asking for one study only."""
    data = client.get(
        base_url.rstrip("/") + "/studies", {**params, "countTotal": "true", "pageSize": "1", "format": "json"}, parse=parse_json_page
    )
    if not isinstance(data.get("totalCount"), int):
        raise ApiError("ClinicalTrials.gov answered without a totalCount")
    return data["totalCount"]


def _module(parent: dict[str, Any], name: str) -> dict[str, Any]:
    """A sub-object, or an empty dict when it is missing or not an object (any module may be absent)."""
    value = parent.get(name)
    return value if isinstance(value, dict) else {}


def _unique(values: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def study_label(study: Any) -> str:
    """Something to name a study by in a warning, even a broken one."""
    nct = dig(study, "protocolSection", "identificationModule", "nctId")
    return nct or (json.dumps(study)[:80] if study is not None else "null")


def parse_study(study: dict[str, Any], raw: str | None = None) -> Trial:
    """One v2 study -> Trial (raw: its JSON text as received, if at hand). ApiError without protocolSection or nctId.
    Every field is read in its documented form or said (fields.py); the payload keeps what came."""
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise ApiError(f"study {study_label(study)} has no protocolSection")
    p = study["protocolSection"]
    nct_id = Fields("a study").text(_module(p, "identificationModule").get("nctId"))
    if not nct_id:
        raise ApiError("study without identificationModule.nctId")
    read = Fields(nct_id)
    ident = read.obj(p.get("identificationModule"), "identificationModule")
    status = read.obj(p.get("statusModule"), "statusModule")
    design = read.obj(p.get("designModule"), "designModule")
    lead = read.obj(read.obj(p.get("sponsorCollaboratorsModule"), "sponsorCollaboratorsModule").get("leadSponsor"), "leadSponsor")
    enrollment = read.obj(design.get("enrollmentInfo"), "enrollmentInfo")
    oversight = read.obj(p.get("oversightModule"), "oversightModule")

    def when(name: str) -> tuple[str | None, str | None]:
        struct = read.obj(status.get(name), name)
        return read.iso_date(struct.get("date"), f"{name}.date"), read.text(struct.get("type"), f"{name}.type")

    start, start_type = when("startDateStruct")
    primary, primary_type = when("primaryCompletionDateStruct")
    completion, completion_type = when("completionDateStruct")
    interventions = []
    for item in read.items(read.obj(p.get("armsInterventionsModule"), "armsInterventionsModule").get("interventions"), "interventions"):
        name = read.text(item.get("name"), "interventions.name") if isinstance(item, dict) else None
        if name:
            kind = read.text(item.get("type"), "interventions.type")
            interventions.append(f"{kind}: {name}" if kind else name)
    locations = read.items(read.obj(p.get("contactsLocationsModule"), "contactsLocationsModule").get("locations"), "locations")
    countries = [c for c in (read.text(loc.get("country"), "locations.country") for loc in locations if isinstance(loc, dict)) if c]
    references = []
    for r in read.items(read.obj(p.get("referencesModule"), "referencesModule").get("references"), "references"):
        pmid = read.text(r.get("pmid")) if isinstance(r, dict) else None  # a PMID given as a number is still the PMID
        if pmid and pmid.isdigit():
            references.append(Reference(pmid=pmid, type=read.text(r.get("type"), "references.type")))
    results_posted = when("resultsFirstPostDateStruct")[0]
    has_results = bool(read.flag(study.get("hasResults"), "hasResults")) or isinstance(study.get("resultsSection"), dict) or bool(results_posted)
    return built(
        Trial,
        nct_id=nct_id,
        title=read.text(ident.get("briefTitle"), "briefTitle"),
        official_title=read.text(ident.get("officialTitle"), "officialTitle"),
        acronym=read.text(ident.get("acronym"), "acronym"),
        overall_status=read.text(status.get("overallStatus"), "overallStatus"),
        why_stopped=read.text(status.get("whyStopped"), "whyStopped"),
        phases=tuple(read.strings(design.get("phases"), "phases")),
        study_type=read.text(design.get("studyType"), "studyType"),
        enrollment=read.whole(enrollment.get("count"), "enrollmentInfo.count"),
        enrollment_type=read.text(enrollment.get("type"), "enrollmentInfo.type"),
        lead_sponsor=read.text(lead.get("name"), "leadSponsor.name"),
        lead_sponsor_class=read.text(lead.get("class"), "leadSponsor.class"),
        conditions=_unique(read.strings(read.obj(p.get("conditionsModule"), "conditionsModule").get("conditions"), "conditions")),
        interventions=_unique(interventions),
        countries=_unique(countries),
        start_date=start,
        start_date_type=start_type,
        primary_completion_date=primary,
        primary_completion_date_type=primary_type,
        completion_date=completion,
        completion_date_type=completion_type,
        first_posted_date=when("studyFirstPostDateStruct")[0],
        last_update_posted_date=when("lastUpdatePostDateStruct")[0],
        results_first_posted_date=results_posted,
        results_first_submit_date=read.iso_date(status.get("resultsFirstSubmitDate"), "resultsFirstSubmitDate"),
        disp_first_submit_date=read.iso_date(status.get("dispFirstSubmitDate"), "dispFirstSubmitDate"),
        is_fda_regulated_drug=read.flag(oversight.get("isFdaRegulatedDrug"), "isFdaRegulatedDrug"),
        is_fda_regulated_device=read.flag(oversight.get("isFdaRegulatedDevice"), "isFdaRegulatedDevice"),
        has_results=has_results,
        references=tuple(references),
        url=STUDY_URL.format(nct_id),
        identifiers=study_identifiers(nct_id, ident),
        raw_json=raw if raw is not None else json.dumps(study, ensure_ascii=False, separators=(",", ":")),
    )


def parse_page(page: Page) -> Iterator[Trial]:
    """Trials of a page; a study without protocolSection or nctId is skipped with a warning naming it."""
    raws = page.raw if page.raw is not None and len(page.raw) == len(page.studies) else [None] * len(page.studies)
    for study, raw in zip(page.studies, raws):
        try:
            yield parse_study(study, raw)
        except ApiError as exc:
            log.warning("skipped a ClinicalTrials.gov record: %s", exc)


def fetch_line(client: HttpClient, settings: Any, query: Query, since: date | None, now: datetime) -> Iterator[Batch]:
    """Every study of a topic line last updated on or after `since` (all of them when None), page by page. Paging
    that ends short of the count the service gave is made whole by fill_gaps."""
    params = search_params(query, since=since)
    expected = None
    got = array("Q")  # the numbers that came, 8 bytes each: memory stays flat however large the window
    for page in fetch_studies(client, settings.ctgov_url, params):
        expected = page.total_count if page.total_count is not None else expected
        got.extend(int(nct[3:]) for nct in _ids(page) if nct[3:].isdigit())
        with gc_paused():  # a page holds a million young objects: each collector pass would walk them all
            trials = list(parse_page(page))
        yield Batch(trials, expected)
    if expected is None:
        return
    distinct = set(got)  # a study moved between pages while paging comes twice
    if len(distinct) < expected:
        yield from fill_gaps(client, settings.ctgov_url, params, {f"NCT{n:08d}" for n in distinct}, expected=expected, label=query.name)


def _ids(page: Page) -> list[str]:
    """The NCT numbers a page holds (a study too broken to store included: it came)."""
    found = (dig(study, "protocolSection", "identificationModule", "nctId") for study in page.studies)
    return [nct.strip().upper() for nct in found if isinstance(nct, str)]


def fill_gaps(client: HttpClient, base_url: str, params: dict[str, str], got: set[str], *, expected: int, label: str) -> Iterator[Batch]:
    """After paging that ended short: list the search's NCT numbers (fields=NCTId), fetch the ones that did not come
    by number (filter.ids), and say how many are still missing, naming them when the listing did. If asking fails,
    the studies that came are still stored and the failure is part of what is said."""
    missing: list[str] = []
    failed = ""
    try:
        listed: list[str] = []
        for page in fetch_studies(client, base_url, {**params, "fields": "NCTId"}):
            listed.extend(_ids(page))
        missing = [nct for nct in dict.fromkeys(listed) if nct not in got]
        for batch in id_batches(base_url, missing, params):
            for page in fetch_studies(client, base_url, {**params, "filter.ids": ",".join(batch)}):
                got.update(_ids(page))
                with gc_paused():
                    trials = list(parse_page(page))
                yield Batch(trials, expected)
    except TrackerError as exc:
        failed = f" (asking for the missing ones failed: {exc})"
    if len(got) < expected:
        lost = [nct for nct in missing if nct not in got]
        shortfall = f"the search counted {expected} studies and {len(got)} came; {expected - len(got)} not stored"
        shortfall += (f": {brief_list(lost)}" if lost else "") + failed
        yield short_batch("ClinicalTrials.gov", label, shortfall, expected, later="a later update stores them when the registry updates them")


# -- the registry sweep ----------------------------------------------------------------------------

MAX_URL = 6000  # bytes; proxies and the API refuse URLs near 8 kB


def id_batches(base_url: str, ids: list[str], params: dict[str, str] | None = None, *, limit: int = MAX_URL) -> Iterator[list[str]]:
    """NCT numbers in batches as large as a /studies URL of at most `limit` bytes allows (filter.ids, comma-separated)."""
    fixed = len(base_url.rstrip("/") + "/studies?") + len(urlencode({**(params or {}), "filter.ids": "", "fields": "NCTId", "pageSize": "1000",
                                                                      "format": "json", "countTotal": "true", "pageToken": "x" * 40}))
    batch: list[str] = []
    size = fixed
    for nct in ids:
        cost = len(nct) + 3  # the id and an encoded comma (%2C)
        if batch and size + cost > limit:
            yield batch
            batch, size = [], fixed
        batch.append(nct)
        size += cost
    if batch:
        yield batch


def fetch_returned_ids(client: HttpClient, base_url: str, ids: list[str], params: dict[str, str] | None = None) -> tuple[set[str], int]:
    """Which of `ids` a /studies search returns (with a line's own parameters, or none: is it in the registry?).
    Asks for the NCT numbers only. Returns the ids and the number of requests made."""
    returned: set[str] = set()
    requests = 0
    for batch in id_batches(base_url, ids, params):
        query = {**(params or {}), "filter.ids": ",".join(batch), "fields": "NCTId", "pageSize": "1000", "format": "json"}
        for page in fetch_studies(client, base_url, query):
            requests += 1
            for study in page.studies:
                nct = dig(study, "protocolSection", "identificationModule", "nctId")
                if isinstance(nct, str):
                    returned.add(nct.strip().upper())
    return returned, requests


def fetch_registry_status(client: HttpClient, base_url: str, nct_id: str) -> str | None:
    """Ask for one record by its number: None when the registry answers 404 (no such record any more), the record's
    own number otherwise (another number when ours is now an alias of a merged record). Any other failure raises."""
    try:
        data = client.get(f"{base_url.rstrip('/')}/studies/{nct_id}", {"fields": "NCTId", "format": "json"}, parse=_parse_study_body)
    except HttpError as exc:
        if exc.status == 404:
            return None
        raise
    nct = dig(data, "protocolSection", "identificationModule", "nctId")
    if not isinstance(nct, str):
        raise ApiError(f"ClinicalTrials.gov answered for {nct_id} without an NCT number")
    return nct.strip().upper()


def _parse_study_body(body: bytes) -> dict[str, Any]:
    return json_answer(body, dict, "a study answer that is not an object")


