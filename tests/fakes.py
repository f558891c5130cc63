"""Fake ClinicalTrials.gov and E-utilities servers on pytest-httpserver. They serve REAL recorded records
(from ../shared/fixtures) through the real wire protocol: pageSize/pageToken paging and the LastUpdatePostDate
window for CT.gov; esearch with WebEnv/QueryKey, date windows and efetch by retstart/retmax for PubMed.
Tests mutate the record lists to simulate upstream changes and can inject faults per request."""

from __future__ import annotations

import copy
import json
import re
from collections import deque
from datetime import date
from typing import Callable
from urllib.parse import parse_qs

from werkzeug import Request, Response

RANGE_RE = re.compile(r"AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]")
Fault = Callable[[Request], Response | None]


def last_update(study: dict) -> str:
    """The study's last update date, or 1900-01-01 when the record (perhaps deliberately malformed) does not say."""
    value: object = study
    for key in ("protocolSection", "statusModule", "lastUpdatePostDateStruct", "date"):
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else "1900-01-01"


class FakeBase:
    def __init__(self, httpserver) -> None:
        self.httpserver = httpserver
        self.faults: deque[Fault] = deque()  # consumed one per request, in order
        self.always: Fault | None = None  # applied to every request while set
        self.requests: list[dict] = []

    def params(self, request: Request) -> dict[str, str]:
        values = {k: v[-1] for k, v in parse_qs(request.query_string.decode()).items()}
        if request.method == "POST":
            values.update({k: v[-1] for k, v in parse_qs(request.get_data(as_text=True)).items()})
        return values

    def _fault(self, request: Request) -> Response | None:
        if self.faults:
            response = self.faults.popleft()(request)
            if response is not None:
                return response
        if self.always:
            return self.always(request)
        return None


class FakeCtgov(FakeBase):
    def __init__(self, httpserver) -> None:
        super().__init__(httpserver)
        self.studies: list[dict] = []
        self.page_size_cap = 1000
        self.recorded_pages: dict[str | None, dict] | None = None  # token -> literal recorded page
        self.total_override: int | None = None  # totalCount to report, for count checks
        self.line_filter: Callable[[dict, dict], bool] | None = None  # (params, study) -> does this search return it?
        self.aliases: dict[str, str] = {}  # old NCT number -> the record it was merged into (GET answers 301)

    def install(self) -> None:
        self.httpserver.expect_request(re.compile(r"^/api/v2/studies$")).respond_with_handler(self.handle)
        self.httpserver.expect_request(re.compile(r"^/api/v2/studies/NCT\d{8}$")).respond_with_handler(self.handle_one)

    def handle_one(self, request: Request) -> Response:
        """GET /studies/{nctId}: the record, 301 to the merged record for an alias, or 404 as the registry answers for
        a number it no longer holds."""
        nct = request.path.rsplit("/", 1)[-1]
        self.requests.append({"path": request.path, **self.params(request)})
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        if nct in self.aliases:
            return Response("", status=301, headers={"Location": request.path.replace(nct, self.aliases[nct])})
        try:
            return Response(json.dumps(self.study(nct)), content_type="application/json")
        except KeyError:
            return Response(json.dumps({"message": f"Study {nct} not found"}), status=404, content_type="application/json")

    def set_studies(self, studies: list[dict]) -> None:
        self.studies = copy.deepcopy(studies)

    def study(self, nct_id: str) -> dict:
        for study in self.studies:
            if study["protocolSection"]["identificationModule"]["nctId"] == nct_id:
                return study
        raise KeyError(nct_id)

    def handle(self, request: Request) -> Response:
        params = self.params(request)
        self.requests.append(params)
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        if self.recorded_pages is not None:
            page = self.recorded_pages.get(params.get("pageToken"))
            if page is None:
                return Response(f"unknown pageToken {params.get('pageToken')}", status=400, content_type="text/plain")
            return Response(json.dumps(page), content_type="application/json")
        selected = self.studies
        if params.get("filter.ids"):
            wanted = set(re.split(r"[,|]", params["filter.ids"]))
            selected = [s for s in selected if s["protocolSection"]["identificationModule"]["nctId"] in wanted]
        if self.line_filter:
            selected = [s for s in selected if self.line_filter(params, s)]
        match = RANGE_RE.search(params.get("filter.advanced", ""))
        if match:
            selected = [s for s in selected if last_update(s) >= match.group(1)]
        size = min(int(params.get("pageSize", 10)), self.page_size_cap)
        start = int(params.get("pageToken", "0") or 0)
        page = {"studies": selected[start : start + size]}
        if params.get("countTotal") == "true":
            page["totalCount"] = self.total_override if self.total_override is not None else len(selected)
        if start + size < len(selected):
            page["nextPageToken"] = str(start + size)
        return Response(json.dumps(page), content_type="application/json")


ESEARCH = """<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" "https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">
<eSearchResult><Count>{count}</Count><RetMax>0</RetMax><RetStart>0</RetStart><QueryKey>{key}</QueryKey><WebEnv>{webenv}</WebEnv><IdList>{ids}</IdList><TranslationSet/><QueryTranslation>{term}</QueryTranslation></eSearchResult>
"""
EFETCH_HEAD = """<?xml version="1.0" ?>
<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" "https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">
<PubmedArticleSet>
"""
RECORD_RE = re.compile(r"<(PubmedArticle|PubmedBookArticle)>.*?</\1>", re.DOTALL)
PMID_RE = re.compile(r"<PMID[^>]*>(\d+)</PMID>")
ENTREZ_RE = re.compile(r'<PubMedPubDate PubStatus="entrez">\s*<Year>(\d+)</Year>\s*<Month>(\d+)</Month>\s*<Day>(\d+)</Day>')


def split_articles(xml: str) -> list[str]:
    """The PubmedArticle elements of a recorded efetch body (DTD 2019 or newer, so they share one DOCTYPE)."""
    return [m.group(0) for m in RECORD_RE.finditer(xml)]


def entrez_date(article: str) -> date:
    m = ENTREZ_RE.search(article)
    return date(int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else date(2000, 1, 1)


class FakePubmed(FakeBase):
    """Articles are kept as XML strings; mdat is simulated by a per-PMID modification date."""

    def __init__(self, httpserver) -> None:
        super().__init__(httpserver)
        self.articles: list[str] = []
        self.modified: dict[str, date] = {}
        self.histories: dict[str, list[str]] = {}
        self.count_override: Callable[[dict], int | None] | None = None
        # PMID -> how many more efetch answers leave it out (as efetch sometimes answers short); a large number: always
        self.withheld: dict[str, int] = {}
        self.citedin: dict[str, list[str]] = {}  # anchor PMID -> citing PMIDs, answered by elink in the recorded shape
        self.recorded_elink: dict[str, bytes] = {}  # anchor PMID -> a recorded elink answer, served verbatim
        self.dois: dict[str, str] = {}  # DOI -> PMID, for esearch "doi"[doi]

    def install(self) -> None:
        self.httpserver.expect_request("/entrez/eutils/esearch.fcgi").respond_with_handler(self.esearch)
        self.httpserver.expect_request("/entrez/eutils/efetch.fcgi").respond_with_handler(self.efetch)
        self.httpserver.expect_request("/entrez/eutils/elink.fcgi").respond_with_handler(self.elink)

    def elink(self, request: Request) -> Response:
        """elink.fcgi, cmd=neighbor: one LinkSet per id= parameter, in the recorded eLinkResult shape (elink1.xml); an
        anchor with a recorded answer gets that answer verbatim (only when asked alone, as it was recorded)."""
        values = parse_qs(request.get_data(as_text=True)) if request.method == "POST" else parse_qs(request.query_string.decode())
        ids = [i for v in values.get("id", []) for i in v.split(",")]
        self.requests.append({"path": "elink", "ids": ids, "linkname": values.get("linkname", [""])[-1]})
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        if len(ids) == 1 and ids[0] in self.recorded_elink:
            return Response(self.recorded_elink[ids[0]], content_type="text/xml")
        sets = []
        for anchor in ids:
            links = "".join(f"<Link><Id>{c}</Id></Link>" for c in self.citedin.get(anchor, []))
            citedin = (f"<LinkSetDb><DbTo>pubmed</DbTo><LinkName>pubmed_pubmed_citedin</LinkName>{links}</LinkSetDb>"
                       if self.citedin.get(anchor) else "")  # PubMed leaves out the LinkSetDb of an anchor nobody cites
            sets.append(f"<LinkSet><DbFrom>pubmed</DbFrom><IdList><Id>{anchor}</Id></IdList>{citedin}</LinkSet>")
        body = ('<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eLinkResult PUBLIC "-//NLM//DTD elink 20101123//EN" '
                '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20101123/elink.dtd">\n<eLinkResult>' + "".join(sets) + "</eLinkResult>")
        return Response(body, content_type="text/xml")

    @staticmethod
    def pmid(article: str) -> str:
        return PMID_RE.search(article).group(1)

    def select(self, params: dict) -> list[str]:
        chosen = self.articles
        datetype = params.get("datetype")
        if datetype:
            low = date(*map(int, params["mindate"].split("/")))
            high = date(*map(int, params["maxdate"].split("/")))
            if datetype == "edat":
                chosen = [a for a in chosen if low <= entrez_date(a) <= high]
            else:
                chosen = [a for a in chosen if low <= self.modified.get(self.pmid(a), entrez_date(a)) <= high]
        return chosen

    def esearch(self, request: Request) -> Response:
        params = self.params(request)
        self.requests.append({"path": "esearch", **params})
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        chosen = self.select(params)
        doi = re.fullmatch(r'"(.+)"\[doi\]', params.get("term", ""))
        if doi:  # an anchor's DOI resolved: the one article carrying it, or none
            pmid = self.dois.get(doi.group(1))
            chosen = [a for a in self.articles if self.pmid(a) == pmid] if pmid else []
            if pmid and not chosen:
                chosen = [f'<PubmedArticle><MedlineCitation><PMID Version="1">{pmid}</PMID></MedlineCitation></PubmedArticle>']
        count = len(chosen)
        if self.count_override:
            override = self.count_override(params)
            count = override if override is not None else count
        webenv = f"MCID_{len(self.histories) + 1}"
        self.histories[webenv] = [self.pmid(a) for a in chosen]
        ids = "".join(f"<Id>{p}</Id>" for p in self.histories[webenv][: int(params.get("retmax", 20))])
        term = params.get("term", "").replace("&", "&amp;").replace("<", "&lt;")
        body = ESEARCH.format(count=count, key=1, webenv=webenv, term=term, ids=ids)
        return Response(body, content_type="text/xml")

    def efetch(self, request: Request) -> Response:
        params = self.params(request)
        self.requests.append({"path": "efetch", **params})
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        if "id" in params:
            wanted = params["id"].split(",")
        else:
            ids = self.histories[params["WebEnv"]]
            start, size = int(params.get("retstart", 0)), int(params.get("retmax", 20))
            wanted = ids[start : start + size]
        by_pmid = {self.pmid(a): a for a in self.articles}
        given = []
        for p in wanted:
            if self.withheld.get(p, 0) > 0:
                self.withheld[p] -= 1
            elif p in by_pmid:
                given.append(by_pmid[p])
        body = EFETCH_HEAD + "\n".join(given) + "\n</PubmedArticleSet>\n"
        return Response(body, content_type="text/xml")


class FakeCtis(FakeBase):
    """The EU CTIS public API: POST /search pages the overviews it holds (pagination.page/size, totalRecords,
    nextPage), a line's searchCriteria matched against an overview by `line_filter`; GET /retrieve/{ctNumber} answers
    the full record it holds, else {} as CTIS does for a number it does not hold. The overviews and the full record
    are REAL recordings (fixtures/ctis); tests edit copies to make a trial change."""

    def __init__(self, httpserver) -> None:
        super().__init__(httpserver)
        self.overviews: list[dict] = []
        self.full: dict[str, dict] = {}  # ctNumber -> full record
        self.line_filter: Callable[[dict, dict], bool] | None = None  # (searchCriteria, overview) -> returned?
        self.bodies: list[dict] = []

    def install(self) -> None:
        self.httpserver.expect_request("/ctis/search", method="POST").respond_with_handler(self.handle_search)
        self.httpserver.expect_request(re.compile(r"^/ctis/retrieve/[^/]+$")).respond_with_handler(self.handle_retrieve)
        self.httpserver.expect_request("/ctis/search", method="GET").respond_with_response(Response("Forbidden", status=403))

    def handle_search(self, request: Request) -> Response:
        self.requests.append({"path": request.path})
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        body = json.loads(request.get_data(as_text=True))
        self.bodies.append(body)
        criteria = body.get("searchCriteria") or {}
        selected = [o for o in self.overviews if not self.line_filter or self.line_filter(criteria, o)]
        page, size = body["pagination"]["page"], body["pagination"]["size"]
        pages = max(1, -(-len(selected) // size))
        answer = {"showWarning": False, "data": selected[(page - 1) * size: page * size],
                  "pagination": {"totalRecords": len(selected), "currentPage": page, "totalPages": pages,
                                 "nextPage": page < pages, "prevPage": page > 1}}
        return Response(json.dumps(answer), content_type="application/json")

    def handle_retrieve(self, request: Request) -> Response:
        number = request.path.rsplit("/", 1)[-1]
        self.requests.append({"path": request.path})
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        return Response(json.dumps(self.full.get(number, {})), content_type="application/json")


class FakeIsrctn(FakeBase):
    """The ISRCTN API: /query/format/default?limit=0 answers the count (<allTrials totalCount=...>), /query/format/who
    the trials as REAL recorded WHO-format <trial> elements (fixtures/isrctn), at most `limit` of them; a q ending in
    "AND lastEdited GE <time>" returns only the trials edited since (each trial's lastEdited is the fake's, as the WHO
    format does not carry it)."""

    WINDOW_RE = re.compile(r"^\((.*)\) AND lastEdited GE (\d{4}-\d{2}-\d{2})T")

    def __init__(self, httpserver) -> None:
        super().__init__(httpserver)
        self.trials: list[str] = []  # each one <trial>...</trial> element's text
        self.edited: dict[str, str] = {}  # trial id -> lastEdited (YYYY-MM-DD)

    def install(self) -> None:
        self.httpserver.expect_request("/isrctn/query/format/default").respond_with_handler(self.handle_count)
        self.httpserver.expect_request("/isrctn/query/format/who").respond_with_handler(self.handle_who)

    def selected(self, q: str) -> list[str]:
        window = self.WINDOW_RE.match(q)
        since = window.group(2) if window else None
        out = []
        for trial in self.trials:
            trial_id = re.search(r"<trial_id>(.*?)</trial_id>", trial).group(1)
            if since is None or self.edited.get(trial_id, "1900-01-01") >= since:
                out.append(trial)
        return out

    def handle_count(self, request: Request) -> Response:
        params = self.params(request)
        self.requests.append(params)
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        n = len(self.selected(params["q"]))
        return Response(f'<?xml version="1.0" encoding="UTF-8"?>\n<allTrials totalCount="{n}" xmlns="http://www.67bricks.com/isrctn"/>',
                        content_type="application/xml")

    def handle_who(self, request: Request) -> Response:
        params = self.params(request)
        self.requests.append(params)
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        chosen = self.selected(params["q"])[: int(params.get("limit", "10"))]
        return Response("<trials>" + "".join(chosen) + "</trials>", content_type="application/xml")


class FakeEuropePmc(FakeBase):
    """Europe PMC: /search pages REAL recorded results (fixtures/europepmc) by cursorMark (nextCursorMark echoes the
    cursor on the last page, and is absent when nothing matched); `(q) AND FIRST_IDATE:[a TO b]` keeps the records
    first indexed in that window, `(EXT_ID:x OR ...) AND SRC:PPR` the records asked for by id. With `recorded_pages`
    the recorded pages are served verbatim, each for the cursor its request names. The Annotations API answers the
    articles of `annotations` (id -> article) it is asked for."""

    WINDOW_RE = re.compile(r"FIRST_IDATE:\[(\d{4}-\d{2}-\d{2}) TO (\d{4}-\d{2}-\d{2})\]")
    EXT_RE = re.compile(r"EXT_ID:(\w+)")

    def __init__(self, httpserver) -> None:
        super().__init__(httpserver)
        self.records: list[dict] = []
        self.recorded_pages: list[dict] | None = None
        self.annotations: dict[str, dict] = {}
        self.annotation_requests: list[str] = []
        self.citations: dict[str, list[dict]] = {}  # anchor PMID -> the records citing it ({"id", "source"})

    def install(self) -> None:
        self.httpserver.expect_request("/europepmc/webservices/rest/search").respond_with_handler(self.handle_search)
        self.httpserver.expect_request("/europepmc/annotations_api/annotationsByArticleIds").respond_with_handler(self.handle_annotations)
        self.httpserver.expect_request(re.compile(r"^/europepmc/webservices/rest/MED/\d+/citations$")).respond_with_handler(self.handle_citations)

    def handle_citations(self, request: Request) -> Response:
        """/MED/{pmid}/citations, paged by page/pageSize, in the shape of the recorded (legacy) answers."""
        params = self.params(request)
        pmid = request.path.split("/")[-2]
        self.requests.append({"path": request.path, **params})
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        citing = self.citations.get(pmid, [])
        page, size = int(params.get("page", "1")), int(params.get("pageSize", "25"))
        body = {"version": "6.9", "hitCount": len(citing), "request": {"id": pmid, "source": "MED", "page": page, "pageSize": size},
                "citationList": {"citation": citing[(page - 1) * size: page * size]}}
        return Response(json.dumps(body), content_type="application/json")

    def selected(self, query: str) -> list[dict]:
        chosen = self.records
        ids = self.EXT_RE.findall(query)
        if ids:
            chosen = [r for r in chosen if r["id"] in ids and (r["source"] == "PPR" or "SRC:PPR" not in query)]
        window = self.WINDOW_RE.search(query)
        if window:
            chosen = [r for r in chosen if window.group(1) <= r.get("firstIndexDate", "") <= window.group(2)]
        return chosen

    def handle_search(self, request: Request) -> Response:
        params = self.params(request)
        self.requests.append(params)
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        cursor = params.get("cursorMark", "*")
        if self.recorded_pages is not None:
            from urllib.parse import unquote

            for page in self.recorded_pages:
                if unquote(page["request"]["cursorMark"]) == cursor:
                    return Response(json.dumps(page), content_type="application/json")
            # HAND-MADE: past the ten recorded pages, the last page Europe PMC gives: no results, the cursor echoed
            return Response(json.dumps({"version": "6.9", "hitCount": 1000, "nextCursorMark": cursor, "request": {"cursorMark": cursor},
                                        "resultList": {"result": []}}), content_type="application/json")
        chosen = self.selected(params.get("query", ""))
        start = 0 if cursor == "*" else int(cursor[1:])
        size = int(params.get("pageSize", "25"))
        page = {"version": "6.9", "hitCount": len(chosen), "request": {"queryString": params.get("query"), "cursorMark": cursor},
                "resultList": {"result": chosen[start:start + size]}}
        if chosen:
            page["nextCursorMark"] = f"c{start + size}" if start + size < len(chosen) else cursor
        return Response(json.dumps(page), content_type="application/json")

    def handle_annotations(self, request: Request) -> Response:
        params = self.params(request)
        self.requests.append(params)
        faulty = self._fault(request)
        if faulty is not None:
            return faulty
        wanted = params.get("articleIds", "").split(",")
        self.annotation_requests.extend(wanted)
        return Response(json.dumps([self.annotations[i] for i in wanted if i in self.annotations]), content_type="application/json")
