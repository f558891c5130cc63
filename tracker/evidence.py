"""How strong a paper's evidence is, and what kind of approach a trial tests, said plainly; the vocabulary for both
lives here and nowhere else. A paper's level comes from its publication types and MeSH headings (PubMed's, or
Europe PMC's types); a trial's approach from its interventions' names and types. Nothing is guessed from free text
beyond the names: a paper PubMed has not indexed yet is said to be not yet classified. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

# -- papers ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Level:
    rank: int  # 1 strongest; the digest lists new papers by rank, then date
    name: str
    basis: str  # what the level was read from, said beside it


LEVELS = (  # (rank, name, publication types that give it), strongest first; types compared lower-cased
    (1, "systematic review or meta-analysis", {"systematic review", "meta-analysis", "systematic-review", "meta analysis"}),
    (2, "randomised trial", {"randomized controlled trial", "randomised controlled trial", "equivalence trial"}),
    (3, "other clinical trial", {"clinical trial", "clinical trial, phase i", "clinical trial, phase ii", "clinical trial, phase iii",
                                 "clinical trial, phase iv", "controlled clinical trial", "pragmatic clinical trial", "adaptive clinical trial",
                                 "clinical study", "clinical-trial"}),
    (4, "observational study", {"observational study", "multicenter study", "comparative study", "validation study", "twin study"}),
    (5, "case report or series", {"case reports", "case-report", "case report"}),
    (6, "review", {"review", "review-article", "scoping review", "narrative review"}),
)
OBSERVATIONAL_MESH = {"cohort studies", "case-control studies", "retrospective studies", "prospective studies", "cross-sectional studies",
                      "longitudinal studies", "follow-up studies"}
IN_VITRO_MESH = {"cells, cultured", "in vitro techniques", "cell line", "organoids"}
ANIMAL_MESH = {"animals", "mice", "rats", "mice, inbred c57bl", "mice, nude", "swine", "disease models, animal"}
PRECLINICAL = (7, "preclinical (animal or in-vitro only)")
OTHER = (8, "other")
UNCLASSIFIED = (9, "not yet classified")


def paper_level(publication_types: Iterable[str], mesh_terms: Iterable[str], *, indexed: bool | None = None) -> Level:
    """The paper's evidence level. Publication types first (the strongest design named wins); then MeSH: a design
    heading (cohort, case-control ...) is an observational study, headings without Humans but with animals or
    cell culture are preclinical. A paper with neither a design type nor MeSH is not yet classified (PubMed's
    indexers add both within weeks to months of entry; a digest's new paper often has neither yet)."""
    types = {t.strip().lower() for t in publication_types if t}
    mesh = {m.strip().lower() for m in mesh_terms if m}
    for rank, name, given in LEVELS:
        found = sorted(types & given)
        if found:
            return Level(rank, name, f"publication type {found[0].title() if found[0].islower() else found[0]}")
    if mesh & OBSERVATIONAL_MESH:
        return Level(4, "observational study", f"MeSH {sorted(mesh & OBSERVATIONAL_MESH)[0].title()}")
    if mesh and "humans" not in mesh and (mesh & ANIMAL_MESH or mesh & IN_VITRO_MESH):
        return Level(*PRECLINICAL, "MeSH without Humans")
    if mesh and "humans" in mesh and mesh & IN_VITRO_MESH and not mesh & OBSERVATIONAL_MESH:
        return Level(*PRECLINICAL, "MeSH: human cells in culture, no clinical design")
    if mesh:
        return Level(*OTHER, "MeSH and publication types name no design")
    return Level(*UNCLASSIFIED, "no MeSH yet and no design in its publication types")


# -- conclusions ---------------------------------------------------------------------------------------

# a structured abstract's conclusions section, by its label where NLM gave it no category (NlmCategory CONCLUSIONS
# is read first): "Conclusions", "Conclusion and relevance" (JAMA), "Interpretation" (the Lancet)
CONCLUSIONS_RE = re.compile(r"^\s*(?:conclusions?|(?:summary|discussion) and conclusions?|conclusions? and (?:relevance|implications)"
                            r"|interpretation|clinical relevance)\b", re.IGNORECASE)


# -- trials ----------------------------------------------------------------------------------------------

# (approach, patterns in an intervention's name), checked in this order for each intervention: a derivative named
# with its source cells ("ADSC conditioned medium", "MSC exosomes") is cell-free, so derivatives come first
APPROACHES = (
    ("cell-free derivative", r"exosome|extracellular vesicle|\bs?EVs?\b|conditioned (?:medium|media)|secretome|\blysate\b|component extract"
                             r"|hair stimulating complex|\bHST[- ]?001\b|growth factor concentrate"),
    ("cell-based", r"stromal vascular|\bt?SVF\b|\bc?SVF\b|adipose[- ]derived (?:stem|stromal|regenerative)|\bADSCs?\b|\bADRCs?\b|\bASCs?\b"
                   r"|dermal sheath|\bDSCs?\b|dermal papilla|follicle[- ](?:derived|stem)|hair follicle (?:cells|stem)|mesenchymal"
                   r"|\bMSCs?\b|stem cells?|iPSC|induced pluripotent|progenitor|micrograft|nanofat|fat graft|autologous[\w\s,()+-]*\bcells\b"
                   r"|cell therapy|cell suspension|cord blood|stem cell educator|celution|puregraft|rigenera"),
    ("PRP", r"platelet[- ]rich (?:plasma|fibrin)|\bPRP\b|\bPRF\b|platelet concentrate|platelet lysate"),
)
def _lower_pattern(pattern: str) -> str:
    """The pattern for lower-cased text: its letters lowered, its escapes (\\b, \\w, \\s) kept. Searching lowered text
    without IGNORECASE takes half the time (26 instead of 55 microseconds a name), the same matches."""
    return re.sub(r"(\\[a-zA-Z])|([A-Z])", lambda m: m.group(1) or m.group(2).lower(), pattern)


_COMPILED = tuple((name, re.compile(_lower_pattern(pattern))) for name, pattern in APPROACHES)
APPROACH_ORDER = ("cell-based", "cell-free derivative", "PRP", "other")


@dataclass(frozen=True)
class Approach:
    name: str  # cell-based, cell-free derivative, PRP or other
    also: tuple[str, ...]  # the other approaches its interventions name ("cell-based; also PRP")
    basis: str  # the intervention (or title) it was read from


def _of(text: str) -> str | None:
    lowered = text.lower()
    for name, pattern in _COMPILED:
        if pattern.search(lowered):
            return name
    return None


def trial_approach(interventions: Iterable[str], title: str | None = None) -> Approach:
    """What a trial tests, from its interventions as stored ("BIOLOGICAL: Autologous SVF"): each intervention is
    read on its own, and the trial is the strongest approach any of them names (cell-based, then cell-free
    derivative, then PRP), naming the others. When no intervention names one, the title is read, and said."""
    found: dict[str, str] = {}
    for item in interventions:
        name = _of(item)
        if name:
            found.setdefault(name, item)
    basis = "interventions"
    if not found and title and (name := _of(title)):
        found[name], basis = title, "title"
    if not found:
        return Approach("other", (), "no intervention names a cell, derivative or PRP approach")
    ordered = sorted(found, key=APPROACH_ORDER.index)
    return Approach(ordered[0], tuple(ordered[1:]), f"{basis}: {found[ordered[0]]}")
