"""The claims register against local servers replaying real records (and two hand-made citation records)."""

import copy
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli

from .conftest import ROOT, load_json, real_studies, write_query
from .fakes import split_articles
from .test_pubmed import real_articles

DATA = Path(__file__).parent / "data"


def claims_json(env, *args):
    result = CliRunner().invoke(cli, ["claims", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {c["id"]: c for c in json.loads(result.output)}


def aga_trial(nct_id, title, intervention, *, updated="2026-11-24"):
    """A real recorded phase-3 study with results (NCT02552212), re-labelled as an AGA trial of `intervention`."""
    study = copy.deepcopy(load_json("ctgov", "v2", "single", "aact_NCT02552212.json"))
    p = study["protocolSection"]
    p["identificationModule"].update(nctId=nct_id, briefTitle=title, officialTitle=title)
    p["conditionsModule"]["conditions"] = ["Androgenetic Alopecia"]
    p["armsInterventionsModule"]["interventions"] = [{"type": "BIOLOGICAL", "name": intervention}, {"type": "DRUG", "name": "Minoxidil 5%"}]
    p["statusModule"]["lastUpdatePostDateStruct"] = {"date": updated, "type": "ACTUAL"}
    return study


@pytest.fixture
def shipped(env, settings):
    """The shipped claims.toml in a query directory of the test's own."""
    settings.queries_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "queries" / "claims.toml", settings.queries_dir / "claims.toml")
    return settings.queries_dir / "claims.toml"


def test_none_exists_flips_to_outdated_when_a_completed_phase3_cell_trial_with_results_appears(env, settings, fake_ctgov, shipped):
    studies = real_studies()
    cell_free = aga_trial("NCT05296863", "ADSC conditioned medium plus minoxidil in male AGA", "Adipose-derived stem cell conditioned medium")
    fake_ctgov.set_studies(studies + [cell_free])
    write_query(settings.queries_dir, "late-phase-evidence", ctgov={"query.cond": "androgenetic alopecia"})
    day1 = {**env, "TRACKER_NOW": "2026-11-23T06:00:00Z"}
    assert CliRunner().invoke(cli, ["update"], env=day1).exit_code == 0
    assert CliRunner().invoke(cli, ["digest", "--format", "md"], env={**env, "TRACKER_NOW": "2026-11-23T06:30:00Z"}).exit_code == 0
    before = claims_json({**env, "TRACKER_NOW": "2026-11-23T07:00:00Z"}, "--claim", "C2", "--offline")["C2"]
    assert before["verdict"] == "CURRENT"
    assert before["summary"] == (
        f"No trial contradicts the claim (checked {len(studies) + 1} stored trials of line late-phase-evidence, fetched up to 2026-11-23; "
        "1 cell-free trial(s) set aside: NCT05296863)."
    )
    assert [(e["id"], e["role"]) for e in before["evidence"]] == [("NCT05296863", "excluded")]

    fake_ctgov.studies.append(aga_trial("NCT09999999", "Autologous adipose-derived stem cells for androgenetic alopecia", "Autologous adipose-derived stem cells"))
    assert CliRunner().invoke(cli, ["update"], env={**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}).exit_code == 0
    after = claims_json({**env, "TRACKER_NOW": "2026-11-24T07:00:00Z"}, "--claim", "C2", "--offline")["C2"]
    assert after["verdict"] == "OUTDATED"
    match = next(e for e in after["evidence"] if e["role"] == "match")
    assert (match["id"], match["status"], match["phases"], match["has_results"], match["url"]) == (
        "NCT09999999", "COMPLETED", ["PHASE3"], True, "https://clinicaltrials.gov/study/NCT09999999")
    assert after["since_last_check"] == "verdict changed: CURRENT on 2026-11-23 -> OUTDATED now"

    result = CliRunner().invoke(cli, ["digest", "--format", "md"], env={**env, "TRACKER_NOW": "2026-11-24T08:00:00Z"})
    assert result.exit_code == 0, result.output
    md = (settings.reports_dir / "digest-2026-11-24.md").read_text()
    assert "## Claims whose verdict changed" in md
    assert "- **C2**: CURRENT → **OUTDATED**. Stem-cell therapy for androgenetic alopecia is still only in clinical trials" in md
    assert "NCT09999999" in md.split("## Claims whose verdict changed")[1]
    conn = sqlite3.connect(env["TRACKER_DB"])
    assert conn.execute("SELECT claim_id, verdict, mode FROM claim_checks ORDER BY id").fetchall() == [("C2", "CURRENT", "offline"), ("C2", "OUTDATED", "offline")]
    conn.close()


def test_every_shipped_claim_is_checked_live(env, settings, fake_ctgov, fake_pubmed, shipped):
    fake_ctgov.set_studies(real_studies())
    fake_ctgov.total_override = 5210
    fake_pubmed.articles = real_articles() + split_articles((DATA / "citations.xml").read_text())
    results = claims_json({**env, "TRACKER_NOW": "2026-11-24T07:00:00Z"})
    assert {k: v["verdict"] for k, v in results.items()} == {
        "C1": "CURRENT", "C2": "CURRENT", "C3": "CURRENT", "C4": "OUTDATED", "C5": "CURRENT", "C6": "REVIEW"}
    assert results["C1"]["summary"] == "ClinicalTrials.gov counts 5,210 trials, more than the claimed 3,500. The claim understates it (more than 4,200)."
    assert results["C4"]["summary"].startswith(
        "Citation error: journal: the article says Nature, the record is Nature communications (Nat Commun). Correct reference: "
        "Yang R, Zheng Y, Burrows M, et al. Generation of folliculogenic human epithelial stem cells from induced pluripotent stem cells. "
        "Nat Commun. 2014 Jan 28;5:3071. doi:10.1038/ncomms4071. PMID 24468981."
    )
    assert results["C5"]["summary"].startswith("Citation verified: Matsumura H, Nishimura EK. Hair follicle aging")
    assert "Extended by" in results["C5"]["summary"]
    assert "For review:" in results["C6"]["summary"] and "Randomized Controlled Trial" in results["C6"]["summary"]
    counted = re.search(r"For review: (\d+) newer .* (\d+) listed here .*PubMed counts (\d+)\.", results["C6"]["summary"])
    assert counted, results["C6"]["summary"]  # a partial list says it is partial
    assert int(counted.group(2)) == len(results["C6"]["evidence"]) < int(counted.group(1)) == int(counted.group(3))
    assert all(v["since_last_check"] == "first check" for v in results.values())
    c2_query = [r for r in fake_ctgov.requests if r.get("filter.overallStatus") == "COMPLETED"]
    assert c2_query and c2_query[0]["filter.advanced"] == "AREA[StudyType]INTERVENTIONAL AND AREA[HasResults]true"
    reports = sorted(p.name for p in settings.reports_dir.iterdir())
    assert reports == ["claims-2026-11-24.html", "claims-2026-11-24.md"]
    again = claims_json({**env, "TRACKER_NOW": "2026-11-25T07:00:00Z"}, "--claim", "C1")
    assert again["C1"]["since_last_check"] == "unchanged since 2026-11-24"
    fake_ctgov.total_override = 5300
    third = claims_json({**env, "TRACKER_NOW": "2026-11-26T07:00:00Z"}, "--claim", "C1")
    assert third["C1"]["since_last_check"] == "same verdict as on 2026-11-25; new evidence: 5300"


def test_a_trial_removed_from_the_registry_is_no_longer_evidence_against_a_claim(env, settings, fake_ctgov, shipped):
    studies = real_studies()
    contradicting = aga_trial("NCT09999999", "Autologous adipose-derived stem cells for androgenetic alopecia", "Autologous adipose-derived stem cells")
    fake_ctgov.set_studies(studies + [contradicting])
    write_query(settings.queries_dir, "late-phase-evidence", ctgov={"query.cond": "androgenetic alopecia"})
    assert CliRunner().invoke(cli, ["update"], env={**env, "TRACKER_NOW": "2026-11-23T06:00:00Z"}).exit_code == 0
    assert claims_json({**env, "TRACKER_NOW": "2026-11-23T07:00:00Z"}, "--claim", "C2", "--offline")["C2"]["verdict"] == "OUTDATED"
    fake_ctgov.studies.remove(contradicting)  # deleted from the registry; the sweep finds it gone
    assert CliRunner().invoke(cli, ["update", "--sweep"], env={**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}).exit_code == 0
    after = claims_json({**env, "TRACKER_NOW": "2026-11-24T07:00:00Z"}, "--claim", "C2", "--offline")["C2"]
    assert after["verdict"] == "CURRENT"
    assert (f"checked {len(studies)} stored trials of line late-phase-evidence, fetched up to 2026-11-24 (1 set aside as removed from or merged in the "
            "registry: NCT09999999)") in after["summary"]


def test_count_below_the_threshold_is_outdated_and_offline_reuses_the_last_live_count(env, settings, fake_ctgov, shipped):
    fake_ctgov.total_override = 3100
    live = claims_json({**env, "TRACKER_NOW": "2026-11-24T07:00:00Z"}, "--claim", "C1")["C1"]
    assert (live["verdict"], live["summary"]) == ("OUTDATED", "ClinicalTrials.gov counts 3,100 trials, below the claimed 3,500.")
    offline = claims_json({**env, "TRACKER_NOW": "2026-11-25T07:00:00Z"}, "--claim", "C1", "--offline")["C1"]
    assert (offline["verdict"], offline["summary"]) == ("OUTDATED", "Offline: the last live count (2026-11-24) 3,100 trials, below the claimed 3,500.")


def test_offline_citation_check_uses_the_stored_record(env, settings, fake_pubmed, shipped):
    fake_pubmed.articles = split_articles((DATA / "citations.xml").read_text())
    write_query(settings.queries_dir, "follicle-neogenesis", pubmed="hair follicle iPSC")
    write_query(settings.queries_dir, "hfsc-ageing", pubmed="hair follicle ageing")  # C5's newer-evidence line
    assert CliRunner().invoke(cli, ["update", "--source", "pubmed"], env=env).exit_code == 0
    fake_pubmed.requests.clear()
    c4 = claims_json(env, "--claim", "C4", "--offline")["C4"]
    assert c4["verdict"] == "OUTDATED" and "the record is Nature communications (Nat Commun)" in c4["summary"]
    assert c4["evidence"][0]["doi"] == "10.1038/ncomms4071"
    assert fake_pubmed.requests == []
    # a record PubMed has since removed (a DeleteCitation) is no citation to verify
    assert claims_json(env, "--claim", "C5", "--offline")["C5"]["verdict"] == "CURRENT"
    conn = sqlite3.connect(env["TRACKER_DB"])
    with conn:
        conn.execute("UPDATE publications SET is_deleted = 1 WHERE pmid = '26912707'")
    conn.close()
    c5 = claims_json(env, "--claim", "C5", "--offline")["C5"]
    assert c5["verdict"] == "OUTDATED" and "PubMed has since removed the record (a DeleteCitation)" in c5["summary"]


def test_a_line_never_fetched_supports_no_verdict_offline(env, settings, fake_ctgov, fake_pubmed, shipped):
    """A wrong --db or a line added since the last update: "0 stored trials" proves nothing, so no CURRENT."""
    checked = claims_json({**env, "TRACKER_NOW": "2026-11-24T07:00:00Z"}, "--offline")
    for claim, line, source in (("C2", "late-phase-evidence", "ClinicalTrials.gov"), ("C3", "follicle-neogenesis", "ClinicalTrials.gov"),
                                ("C6", "aga-cell-therapy", "ClinicalTrials.gov")):
        assert checked[claim]["verdict"] == "REVIEW"
        assert f"Line {line} has never been fetched from {source}" in checked[claim]["summary"]
    assert "Line hfsc-ageing has never been fetched from PubMed" in checked["C5"]["summary"]
    assert fake_ctgov.requests == [] and fake_pubmed.requests == []  # offline asks nothing


BAD_CLAIMS = [
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = 2016-03-01\n", "claim X: needs at least one [[claim.check]]"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-13-01'\n[[claim.check]]\nkind = 'count'\n", "claim X: as_of '2016-13-01' is not a date"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-03-01'\n[[claim.check]]\nkind = 'guess'\n", "claim X: check kind 'guess' is not one of"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-03-01'\n[[claim.check]]\nkind = 'count'\nctgov = {'query.term' = 'x'}\nminimum = '3500'\n",
     "claim X: 'minimum' must be an integer, not str"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-03-01'\n[[claim.check]]\nkind = 'citation'\npmid = 'abc'\nstated_journal = 'N'\nstated_date = '2014-01'\n",
     "claim X: pmid 'abc' is not a PMID"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-03-01'\nseverity = 3\n", "claim X: unknown key 'severity'"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-03-01'\n[[claim.check]]\nkind = 'none_exists'\nline = 'a'\nrequire_terms = ['(unclosed']\n",
     "claim X: require_terms term '(unclosed' is not a valid pattern"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-03-01'\n[[claim.check]]\nkind = 'none_exists'\nline = 'a'\nany_of = [{phase = ['PHASE3']}]\n",
     "claim X: unknown key 'phase' in any_of"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\n", "claim X: missing or empty 'where'"),
    ("[[claim]]\nid = 'X'\nwording = 'w'\nwhere = 'p'\nas_of = '2016-03-01'\n[[claim.check]]\nkind = 'count'\nctgov = {'filter.phase' = 'PHASE3', 'query.term' = 'x'}\nminimum = 1\n",
     "claim X: ctgov unknown parameter 'filter.phase'"),
    ("claim = 'x'\n", "no [[claim]] tables"),
    ("[[claim\n", "not valid TOML"),
]


@pytest.mark.parametrize("text, problem", BAD_CLAIMS)
def test_a_malformed_claim_is_named_with_its_problem(env, settings, text, problem):
    settings.queries_dir.mkdir(parents=True, exist_ok=True)
    path = settings.queries_dir / "claims.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["claims", "--offline"], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: ") and problem in lines[0], result.output


def test_unknown_claim_id_is_one_line(env, settings, shipped):
    result = CliRunner().invoke(cli, ["claims", "--claim", "C9", "--offline"], env=env)
    assert result.exit_code == 1 and result.output.strip() == "Error: unknown claim 'C9' (known: C1, C2, C3, C4, C5, C6)"
