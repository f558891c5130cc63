"""Who cites a paper, as PubMed knows it: E-utilities elink (pubmed_pubmed_citedin, several anchors in one request,
one LinkSet each), and an anchor named by DOI resolved to its PMID through esearch. citedin draws on PMC reference
lists, so it undercounts: Europe PMC's citations complement it (sources/europepmc)."""

from __future__ import annotations

from typing import Any

from lxml import etree

from ...errors import ApiError
from ...http import HttpClient, RetryableBody
from ..base import not_xml
from .articles import TRANSIENT_ERROR_RE, check_rate_limit
from .eutils import _base_params, esearch

ANCHORS_AT_ONCE = 100  # anchors per elink request (each its own id= parameter)
LINK_NAME = "pubmed_pubmed_citedin"
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def parse_elink(body: bytes) -> dict[str, list[str]]:
    """anchor PMID -> the PMIDs citing it, from an eLinkResult (an anchor PubMed holds no citer of has an empty list).
    A LinkSet naming several ids (a comma list was sent) gives its citers to each of them."""
    check_rate_limit(body)
    try:
        root = etree.fromstring(body, PARSER)
    except etree.XMLSyntaxError:
        raise RetryableBody(not_xml(body)) from None
    error = root.findtext("ERROR") or ""
    if root.tag != "eLinkResult" or (error and TRANSIENT_ERROR_RE.search(error)):
        raise RetryableBody(error or "an elink answer that is not an eLinkResult")
    if error:
        raise ApiError(f"PubMed refused the citation search: {' '.join(error.split())}")
    found: dict[str, list[str]] = {}
    for link_set in root.iterfind("LinkSet"):
        anchors = [(i.text or "").strip() for i in link_set.iterfind("IdList/Id")]
        citers: list[str] = []
        for db in link_set.iterfind("LinkSetDb"):
            if (db.findtext("LinkName") or "").strip() == LINK_NAME:
                citers.extend((i.text or "").strip() for i in db.iterfind("Link/Id"))
        for anchor in anchors:
            found.setdefault(anchor, [])
            found[anchor].extend(c for c in citers if c and c not in found[anchor])
    return found


def fetch_citers(client: HttpClient, settings: Any, pmids: list[str]) -> dict[str, list[str]]:
    """anchor PMID -> the PMIDs PubMed says cite it, ANCHORS_AT_ONCE anchors per request, paced as every NCBI call."""
    found: dict[str, list[str]] = {p: [] for p in pmids}
    for start in range(0, len(pmids), ANCHORS_AT_ONCE):
        chunk = pmids[start:start + ANCHORS_AT_ONCE]
        params = [*_base_params(settings).items(), ("dbfrom", "pubmed"), ("linkname", LINK_NAME), ("retmode", "xml"),
                  *(("id", p) for p in chunk)]  # one id= per anchor: one LinkSet each
        for anchor, citers in client.post(settings.eutils_url.rstrip("/") + "/elink.fcgi", params, parse=parse_elink).items():
            if anchor in found:
                found[anchor].extend(c for c in citers if c not in found[anchor])
    return found


def resolve_doi(client: HttpClient, settings: Any, doi: str) -> str | None:
    """The PMID of the one PubMed record with this DOI; None when PubMed holds none (or, ambiguously, several)."""
    found = esearch(client, settings, f'"{doi}"[doi]', retmax=2, label=f"doi:{doi}", history=False, log_warnings=False)
    return found.ids[0] if len(found.ids) == 1 else None
