"""A digest that informs (issue: results at a glance, conclusions, evidence strength, materiality): every recorded
study with a results section summarised with the record's own numbers and none other; structured and unstructured
abstracts; publication types and MeSH to evidence levels; the trial approaches; change levels; the digest's order
of new papers and changed trials; `show` and `show --json`.

The studies and articles are the REAL recordings. HAND-MADE, where no recording has the case: the intervention
names of DOMAIN.md's registered trials (no hair-loss trial is recorded; their names are copied from DOMAIN.md's
table), a results section moved between two runs of one recorded study, and the small type/MeSH rows of the level
table marked as such."""

from __future__ import annotations

import copy
import json
import re

import pytest

from tracker.evidence import paper_level, trial_approach
from tracker.materiality import change_level
from tracker.sources.ctgov.results import complete, glance, read_results
from tracker.sources.pubmed import parse_pubmed_xml
from tracker.sources.pubmed.articles import conclusions_of

from .conftest import invoke_cli, real_studies, rows, write_query
from .test_digest import set_entrez
from .test_pubmed import real_articles

NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
COUNTED_RE = re.compile(r"(?:and )?\d+ more (?:arms|rows|primary outcomes?)|\d+ secondary or other outcomes?|Primary outcome \d+")


def studies_with_results() -> list[dict]:
    found = [s for s in real_studies() if isinstance(s.get("resultsSection"), dict)]
    assert len(found) >= 7
    return found


@pytest.mark.parametrize("study", studies_with_results(), ids=lambda s: s["protocolSection"]["identificationModule"]["nctId"])
def test_every_recorded_results_section_is_summarised_with_the_records_numbers(study):
    results = read_results(study)
    section = study["resultsSection"]
    posted = [m for m in section["outcomeMeasuresModule"]["outcomeMeasures"] if m["type"] == "PRIMARY"]
    assert [o.title for o in results.primary] == [m["title"] for m in posted]
    assert results.secondary == len(section["outcomeMeasuresModule"]["outcomeMeasures"]) - len(posted)
    for outcome, measure in zip(results.primary, posted):
        assert outcome.time_frame == " ".join(measure["timeFrame"].split())
        arms = {g["id"]: g["title"] for g in measure["groups"]}
        denominators = {c["groupId"]: c["value"] for c in measure["denoms"][0]["counts"]}
        expected = [(arms[m["groupId"]], denominators.get(m["groupId"]), m.get("value"), m.get("spread"), m.get("lowerLimit"), m.get("upperLimit"))
                    for c in measure.get("classes", []) for cat in c["categories"] for m in cat["measurements"]]
        got = [(m.arm, m.participants, m.value, m.spread, m.lower, m.upper) for row in outcome.rows for m in row.measures]
        assert got == expected  # every arm's value, dispersion and participants exactly as posted
        assert [a.p_value for a in outcome.analyses] == [a.get("pValue") for a in measure.get("analyses", [])]
        assert [a.ci for a in outcome.analyses if a.ci] == [
            f"{a['ciPctValue'] + '% ' if a.get('ciPctValue') else ''}CI{' one-sided' if a.get('ciNumSides') == 'ONE_SIDED' else ''} {a['ciLowerLimit']} to {a['ciUpperLimit']}"
            for a in measure.get("analyses", []) if a.get("ciLowerLimit") or a.get("ciUpperLimit")]
    groups = section["adverseEventsModule"]["eventGroups"]
    assert [(s.arm, s.affected, s.at_risk) for s in results.serious] == [(g["title"], g.get("seriousNumAffected"), g.get("seriousNumAtRisk")) for g in groups]
    # no invented number: every number either text prints is in the record (what it counts of itself aside)
    record_numbers = set(NUMBER_RE.findall(json.dumps(section, ensure_ascii=False)))
    for text in glance(results) + complete(results):
        for number in NUMBER_RE.findall(COUNTED_RE.sub("", text)):
            assert number in record_numbers, (number, text)


def test_the_glance_is_the_first_primary_outcome_and_says_what_more_there_is():
    study = next(s for s in studies_with_results() if s["protocolSection"]["identificationModule"]["nctId"] == "NCT03064438")
    lines = glance(read_results(study))
    assert lines[0] == ("Primary outcome: Change From Baseline in Total Lesion Count at Week 12 (Baseline, Week 12); least-squares mean (SE), "
                        "number of lesions. ACU-D1 Ointment (n=26): -10.2 (SE 1.08); ACU-D1 Ointment Vehicle (n=11): -12.0 (SE 1.62). "
                        "Analysis: p = 0.366; t-test, 2 sided; Difference of Least Squares (LS) Mean 1.8 (95% CI -2.162 to 5.727).")
    assert lines[-1] == "Serious adverse events: ACU-D1 Ointment 0/27; ACU-D1 Ointment Vehicle 0/13."
    many = next(s for s in studies_with_results() if s["protocolSection"]["identificationModule"]["nctId"] == "NCT05594173")
    said = glance(read_results(many))
    assert "; and 2 more arms" in said[0] and said[1] == "And 1 more primary outcome (tracker show)."
    assert read_results(real_studies()[0] if "resultsSection" not in real_studies()[0] else {}) is None


# -- conclusions --------------------------------------------------------------------------------------

def _pmid(article: str) -> str:
    return re.search(r"<PMID[^>]*>(\d+)</PMID>", article).group(1)


def test_a_structured_abstract_gives_its_conclusions_and_an_unstructured_one_none():
    articles = real_articles()
    categorised = [a for a in articles if 'NlmCategory="CONCLUSIONS"' in a]
    labelled = [a for a in articles if re.search(r'Label="CONCLUSIONS?"', a) and 'NlmCategory="CONCLUSIONS"' not in a]
    plain = [a for a in articles if "<AbstractText>" in a and "Label=" not in a]
    assert categorised and labelled and plain
    for article in categorised:
        sections = re.findall(r'<AbstractText[^>]*NlmCategory="CONCLUSIONS"[^>]*>(.*?)</AbstractText>', article, flags=re.DOTALL)
        said = conclusions_of(article)
        assert said and all(" ".join(re.sub(r"<[^>]+>", "", s).split())[:40] in said for s in sections), _pmid(article)
    for article in labelled:
        assert conclusions_of(article), _pmid(article)
    for article in plain:
        assert conclusions_of(article) is None, _pmid(article)  # never a first or last sentence dressed as conclusions


# -- evidence levels ----------------------------------------------------------------------------------

LEVEL_TABLE = [  # HAND-MADE rows: (publication types, MeSH, level)
    (["Journal Article", "Meta-Analysis"], ["Humans"], "systematic review or meta-analysis"),
    (["Systematic Review", "Review"], [], "systematic review or meta-analysis"),
    (["Randomized Controlled Trial", "Journal Article"], ["Humans", "Alopecia"], "randomised trial"),
    (["Clinical Trial, Phase II", "Journal Article"], ["Humans"], "other clinical trial"),
    (["Journal Article"], ["Humans", "Retrospective Studies", "Alopecia"], "observational study"),
    (["Observational Study"], [], "observational study"),
    (["Case Reports"], ["Humans", "Female"], "case report or series"),
    (["Review", "Journal Article"], ["Humans"], "review"),
    (["Journal Article"], ["Animals", "Mice", "Hair Follicle", "Stem Cells"], "preclinical (animal or in-vitro only)"),
    (["Journal Article"], ["Humans", "Cells, Cultured", "Dermal Papilla"], "preclinical (animal or in-vitro only)"),
    (["Journal Article"], ["Humans", "Alopecia"], "other"),
    (["Journal Article"], [], "not yet classified"),
    (["research-article"], [], "not yet classified"),  # Europe PMC's type for an article
    (["Preprint"], [], "not yet classified"),
]


@pytest.mark.parametrize("types,mesh,level", LEVEL_TABLE)
def test_publication_types_and_mesh_give_the_evidence_level(types, mesh, level):
    assert paper_level(types, mesh).name == level


def test_every_recorded_article_gets_the_level_its_types_name():
    for article in real_articles():
        paper = parse_pubmed_xml(f"<PubmedArticleSet>{article}</PubmedArticleSet>".encode())[0]
        level = paper_level(paper.publication_types, paper.mesh_terms)
        types = set(paper.publication_types)
        if types & {"Meta-Analysis", "Systematic Review"}:
            assert level.rank == 1, paper.pmid
        elif "Randomized Controlled Trial" in types:
            assert level.rank == 2, paper.pmid
        elif not paper.mesh_terms and not types - {"Journal Article", "English Abstract", "Research Support, Non-U.S. Gov't"}:
            assert level.name == "not yet classified", paper.pmid
        assert level.basis  # always says what it was read from


# -- trial approaches ---------------------------------------------------------------------------------

APPROACH_TABLE = [  # HAND-MADE from DOMAIN.md's registered trials: (NCT, intervention names as registries write them, approach)
    ("NCT01286649", ["BIOLOGICAL: RCH-01 autologous dermal sheath cup (DSC) cells"], "cell-based"),
    ("NCT01451177", ["BIOLOGICAL: Ji Gami autologous cultured dermal and epidermal cells"], "cell-based"),
    ("NCT02503852", ["DEVICE: Fat graft enriched with adipose-derived regenerative cells (ADRCs), Celution"], "cell-based"),
    ("NCT02729415", ["PROCEDURE: Autologous adipose-derived stromal vascular fraction (SVF) injection"], "cell-based"),
    ("NCT02594046", ["DRUG: Topical allogeneic ADSC component extract"], "cell-free derivative"),
    ("NCT02849470", ["PROCEDURE: Emulsified AD-tSVF", "BIOLOGICAL: High-density platelet rich plasma (HD-PRP)"], "cell-based; also PRP"),
    ("NCT03388840", ["BIOLOGICAL: ADSC + PRP", "BIOLOGICAL: PRP"], "cell-based; also PRP"),
    ("NCT05659095", ["BIOLOGICAL: Autologous hair follicle-derived mesenchymal stem cell suspension"], "cell-based"),
    ("NCT01673789", ["BIOLOGICAL: Stem Cell Educator therapy"], "cell-based"),
    ("NCT05296863", ["DRUG: Adipose-derived stem cell conditioned medium", "DRUG: Minoxidil 5%"], "cell-free derivative"),
    ("NCT06066827", ["BIOLOGICAL: ADSC secretome"], "cell-free derivative"),
    ("NCT06539273", ["BIOLOGICAL: Foreskin mesenchymal stem cell exosomes"], "cell-free derivative"),
    ("NCT07203599", ["BIOLOGICAL: hUCMSC small extracellular vesicles (sEVs)", "DRUG: 5% minoxidil"], "cell-free derivative"),
    ("NCT01501617", ["BIOLOGICAL: Hair Stimulating Complex (HSC)"], "cell-free derivative"),
    ("NCT06558565", ["PROCEDURE: Stromal vascular fraction", "PROCEDURE: Platelet-rich plasma"], "cell-based; also PRP"),
    ("(a PRP trial)", ["BIOLOGICAL: Platelet-rich plasma injections"], "PRP"),
    ("(a drug trial)", ["DRUG: Minoxidil 5% foam", "DRUG: Placebo"], "other"),
]


@pytest.mark.parametrize("nct,interventions,expected", APPROACH_TABLE)
def test_intervention_names_give_the_trials_approach(nct, interventions, expected):
    approach = trial_approach(interventions)
    assert approach.name + (f"; also {', '.join(approach.also)}" if approach.also else "") == expected, nct


def test_the_recorded_trials_approaches():
    from tracker.sources.ctgov.api import parse_study

    found = {t.nct_id: trial_approach(t.interventions, t.title).name for t in map(parse_study, real_studies())}
    assert found.pop("NCT00711542") == "cell-based"  # autologous bone marrow-derived progenitor cells
    assert set(found.values()) == {"other"}  # the other recordings test drugs, vaccines and devices; "placebo medium" is no derivative


# -- materiality --------------------------------------------------------------------------------------

CHANGE_TABLE = [
    ("overall_status", "RECRUITING", "TERMINATED", "high"),
    ("overall_status", "ACTIVE_NOT_RECRUITING", "WITHDRAWN", "high"),
    ("overall_status", "RECRUITING", "SUSPENDED", "high"),
    ("has_results", "false", "true", "high"),
    ("primary_completion_date", "2026-03", "2026-09-15", "high"),
    ("primary_completion_date", "2027-01-31", "2026-06", "high"),  # brought forward by 7 months: it moved
    ("enrollment", "100", "75", "high"),
    ("overall_status", "RECRUITING", "COMPLETED", "medium"),
    ("primary_completion_date", "2026-03", "2026-08", "medium"),
    ("completion_date", "2026-03", "2028-03", "medium"),
    ("enrollment", "100", "80", "medium"),
    ("enrollment", "40", "120", "medium"),
    ("has_results", "true", "false", "medium"),
    ("title", "A", "B", "low"),
    ("lead_sponsor", "A", "B", "low"),
    ("phases", "PHASE1", "PHASE1, PHASE2", "low"),
]


@pytest.mark.parametrize("field,old,new,level", CHANGE_TABLE)
def test_each_change_has_its_level(field, old, new, level):
    assert change_level(field, old, new) == level


# -- through an update, the digest and show -------------------------------------------------------------

FIRST, SECOND = "2026-11-23T06:00:00Z", "2026-11-30T06:00:00Z"


def test_the_digest_puts_results_at_a_glance_high_changes_first_and_says_why_stopped(env, settings, fake_ctgov):
    with_results = copy.deepcopy(next(s for s in studies_with_results() if s["protocolSection"]["identificationModule"]["nctId"] == "NCT03064438"))
    before = copy.deepcopy(with_results)  # HAND-MADE: the same study before its results were posted
    del before["resultsSection"]
    before["hasResults"] = False
    before["protocolSection"]["statusModule"].pop("resultsFirstPostDateStruct", None)
    stopping = copy.deepcopy(next(s for s in real_studies() if s["protocolSection"].get("statusModule", {}).get("overallStatus") == "RECRUITING"))
    stopping["protocolSection"]["statusModule"]["whyStopped"] = "Sponsor decision"
    slipping = copy.deepcopy(next(s for s in real_studies() if s["protocolSection"].get("statusModule", {}).get("overallStatus") == "COMPLETED"
                                  and "resultsSection" not in s and s is not with_results))
    fake_ctgov.set_studies([before, stopping, slipping])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    assert invoke_cli(env, "update", "--source", "ctgov", default_now=FIRST).exit_code == 0
    assert invoke_cli(env, "digest", "--format", "md", default_now="2026-11-23T07:00:00Z").exit_code == 0
    for study in (with_results, stopping, slipping):
        study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-11-29", "type": "ACTUAL"}
    stopping["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    slipping["protocolSection"].setdefault("sponsorCollaboratorsModule", {})["leadSponsor"] = {"name": "Another Sponsor", "class": "OTHER"}  # low
    fake_ctgov.set_studies([with_results, stopping, slipping])
    assert invoke_cli(env, "update", "--source", "ctgov", default_now=SECOND).exit_code == 0
    result = invoke_cli(env, "digest", "--format", "all", default_now="2026-11-30T07:00:00Z")
    assert result.exit_code == 0, result.output
    md = (settings.reports_dir / "digest-2026-11-30.md").read_text(encoding="utf-8")
    assert "### Changed trials (3)" in md, md
    changed = md.split("### Changed trials (3)", 1)[1]
    ids = re.findall(r"^- \*\*.+?\*\* \[(NCT\d{8})\]", changed, re.M)
    nct = {s["protocolSection"]["identificationModule"]["nctId"]: s for s in (with_results, stopping, slipping)}
    assert ids[-1] == slipping["protocolSection"]["identificationModule"]["nctId"]  # its only change is low: last
    assert set(ids[:2]) == {with_results["protocolSection"]["identificationModule"]["nctId"], stopping["protocolSection"]["identificationModule"]["nctId"]}
    assert "**HIGH:** Status: Recruiting → Terminated; why stopped: Sponsor decision" in changed
    assert "**HIGH:** Results posted" in changed
    assert "Results at a glance (as posted):" in changed
    assert ("Primary outcome: Change From Baseline in Total Lesion Count at Week 12 (Baseline, Week 12); least-squares mean (SE), "
            "number of lesions. ACU-D1 Ointment (n=26): -10.2 (SE 1.08)") in changed.replace("\\", "")
    assert "Serious adverse events: ACU-D1 Ointment 0/27; ACU-D1 Ointment Vehicle 0/13." in changed.replace("\\", "")
    html = (settings.reports_dir / "digest-2026-11-30.html").read_text(encoding="utf-8")
    assert "Results at a glance" in html and '<span class="level">high</span> Status: Recruiting → Terminated; why stopped: Sponsor decision' in html
    assert len(nct) == 3


def test_show_gives_the_results_whole_and_json_carries_them_structured(env, settings, fake_ctgov):
    study = next(s for s in studies_with_results() if s["protocolSection"]["identificationModule"]["nctId"] == "NCT02552212")
    fake_ctgov.set_studies([copy.deepcopy(study)])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    assert invoke_cli(env, "update", "--source", "ctgov", default_now=FIRST).exit_code == 0
    text = invoke_cli(env, "show", "NCT02552212")
    assert text.exit_code == 0, text.output
    primaries = [m for m in study["resultsSection"]["outcomeMeasuresModule"]["outcomeMeasures"] if m["type"] == "PRIMARY"]
    assert "Results (as posted on the registry):" in text.output
    assert all(f"Primary outcome {i}:" in text.output for i in range(1, len(primaries) + 1))  # complete, every primary outcome
    assert "Approach: other" in text.output
    shown = json.loads(invoke_cli(env, "show", "NCT02552212", "--json").output)
    first = shown["results"]["primary"][0]
    assert first["title"] == primaries[0]["title"]
    assert [m["value"] for row in first["rows"] for m in row["measures"]] == [
        m["value"] for c in primaries[0]["classes"] for cat in c["categories"] for m in cat["measurements"]]
    assert shown["approach"]["name"] == "other"


def test_new_papers_are_ordered_by_evidence_level_then_date_with_their_conclusions(env, settings, fake_pubmed):
    articles = real_articles()
    levels = {}
    for article in articles:
        paper = parse_pubmed_xml(f"<PubmedArticleSet>{article}</PubmedArticleSet>".encode())[0]
        levels.setdefault(paper_level(paper.publication_types, paper.mesh_terms).rank, []).append(article)
    chosen = [levels[9][0], levels[6][0], levels[2][0], levels[1][0], levels[8][0]]  # stored in the order least to most
    fake_pubmed.articles = []
    write_query(settings.queries_dir, "line", pubmed="stem cells")
    assert invoke_cli(env, "update", "--source", "pubmed", default_now=FIRST).exit_code == 0
    assert invoke_cli(env, "digest", "--format", "md", default_now="2026-11-23T07:00:00Z").exit_code == 0
    fake_pubmed.articles = [set_entrez(a, 2026, 11, 28) for a in chosen]
    assert invoke_cli(env, "update", "--source", "pubmed", default_now=SECOND).exit_code == 0
    result = invoke_cli(env, "digest", "--format", "md", default_now="2026-11-30T07:00:00Z")
    assert result.exit_code == 0, result.output
    md = (settings.reports_dir / "digest-2026-11-30.md").read_text(encoding="utf-8")
    said = re.findall(r"^  Evidence: \*\*(.+?)\*\*", md, re.M)
    assert said == ["systematic review or meta-analysis", "randomised trial", "review", "other", "not yet classified"]
    assert "## Baseline" in md  # the first digest with records: its most recent papers, in the same order
    for article in chosen:
        if (conclusions := conclusions_of(article)):
            assert f"Conclusions (the abstract's): {conclusions[:30]}" in md.replace("\\", "")
    assert rows(env["TRACKER_DB"], "SELECT count(*) FROM publications") == [(5,)]
