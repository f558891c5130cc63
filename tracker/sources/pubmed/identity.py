"""The identifiers a PubMed article carries (its PMID, DOI and PMCID) and the trial registrations it names in its
DataBankList, for every registry PubMed lists (ClinicalTrials.gov, ISRCTN, EudraCT, ANZCTR, ChiCTR, CTRI, DRKS,
IRCT, JPRN/UMIN ...; sequence databanks such as GenBank are not registrations and are left out). Pure."""

from __future__ import annotations

from typing import Iterable

from ...identifiers import TRIAL_SCHEMES, normalise, recognise



def article_identifiers(pmid: str, doi: str | None, pmcid: str | None) -> tuple[tuple[str, str, str], ...]:
    """(scheme, value, via): the PMID first, then the DOI and PMCID when they are well-formed."""
    found = [("pmid", pmid, "own")]
    for scheme, text in (("doi", doi), ("pmcid", pmcid)):
        value = normalise(scheme, text) if text else None
        if value:
            found.append((scheme, value, "article_id"))
    return tuple(found)


def registrations(accessions: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """(scheme, value) of the DataBank accession numbers that are trial registrations, each once, in order."""
    found: dict[tuple[str, str], None] = {}
    for text in accessions:
        recognised = recognise(text, TRIAL_SCHEMES)
        if recognised:
            found.setdefault(recognised, None)
    return tuple(found)
