"""Trials registered outside ClinicalTrials.gov: EU CTIS (search paging, the full record, status codes, a change
between runs, the NCT cross-registration, removal, the EU results duty), ISRCTN (count then fetch, the lastEdited
window, secondary ids, results links) and WHO ICTRP exports (imported twice with one result, EUCTR's member-state
copies folded, a newer export's changes, cross-references to a CT.gov record merged into one study, broken files).

The services are the local fakes serving REAL recordings (fixtures/ctis, isrctn, ictrp). Hand-made data, where no
recording has the case, is marked HAND-MADE where it is made: the overview of the one recorded full CTIS record
(test_sources_contract.ctis_overview_of), an NCT number written into that full record, edits to copies of the
recorded ICTRP export."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import tracker.sources.ctis.api as ctis_api

from .conftest import ICTRP_EXPORT, digest_md, fixture_path, invoke_cli, real_studies, rows, write_query
from .test_sources_contract import _ctis, _isrctn

FIRST = "2026-12-04T06:00:00Z"  # every test's first run; digests at 07:00 the same day
LATER = "2026-12-11T06:00:00Z"
ENDED_CTIS = "2024-512310-18-00"  # ctStatus 8 (Ended) on 16/09/2024, no results: overdue under the EU duty
AUTHORISED_CTIS = "2026-525909-13-00"  # ctStatus 2
FULL_CTIS = "2022-501417-31-00"  # the recorded full record, ctPublicStatusCode 11 (Not authorised)


def invoke(env, *args):
    return invoke_cli(env, *args, default_now=FIRST)


# -- EU CTIS ----------------------------------------------------------------------------------------

def test_ctis_pages_the_search_and_maps_statuses_keeping_the_registrys_own(env, settings, fake_ctis, monkeypatch):
    monkeypatch.setattr(ctis_api, "PAGE_SIZE", 3)
    held = _ctis(fake_ctis)
    write_query(settings.queries_dir, "eu", ctis={"containAll": "trial"})
    result = invoke(env, "update", "--source", "ctis")
    assert result.exit_code == 0, result.output
    assert f"fetched {held}, new {held}" in result.output
    assert [b["pagination"] for b in fake_ctis.bodies] == [{"page": p, "size": 3} for p in (1, 2, 3)]
    assert all(b["sort"] and b["searchCriteria"] == {"containAll": "trial"} for b in fake_ctis.bodies)
    statuses = dict((i, (s, r)) for i, s, r in rows(env["TRACKER_DB"], "SELECT trial_id, overall_status, registry_status FROM ctis_trials"))
    assert statuses[ENDED_CTIS] == ("COMPLETED", "Ended")
    assert statuses[AUTHORISED_CTIS] == ("ONGOING", "Authorised")  # codes 2-5: CTIS says only "Authorised"
    assert statuses[FULL_CTIS] == ("WITHDRAWN", "Not authorised")  # the full record's ctPublicStatusCode 11
    [(title, phases, enrollment, countries)] = rows(env["TRACKER_DB"], "SELECT title, phases, enrollment, countries FROM ctis_trials WHERE trial_id = ?", FULL_CTIS)
    assert title.startswith("A Clinical Study of") or title  # the full record's public title
    assert (phases, enrollment) == ('["PHASE3"]', 1296)


def test_a_ctis_change_between_runs_is_tracked_and_only_the_changed_trial_retrieved_again(env, settings, fake_ctis):
    _ctis(fake_ctis)
    write_query(settings.queries_dir, "eu", ctis={"containAll": "trial"})
    assert invoke(env, "update", "--source", "ctis").exit_code == 0
    digest_md(env, "2026-12-04T07:00:00Z")
    changed = next(o for o in fake_ctis.overviews if o["ctNumber"] == AUTHORISED_CTIS)
    changed.update(ctStatus=8, endDateEU="30/11/2026", lastUpdated="01/12/2026")  # the trial ended
    fake_ctis.requests.clear()
    result = invoke({**env, "TRACKER_NOW": LATER}, "update", "--source", "ctis")
    assert result.exit_code == 0, result.output
    assert "fetched 1, new 0, changed 1" in result.output
    assert [r["path"] for r in fake_ctis.requests if "retrieve" in r["path"]] == [f"/ctis/retrieve/{AUTHORISED_CTIS}"]
    changes = rows(env["TRACKER_DB"], "SELECT field, old_value, new_value FROM ctis_trial_changes ORDER BY field")
    assert ("overall_status", "ONGOING", "COMPLETED") in changes and ("registry_status", "Authorised", "Ended") in changes
    assert ("completion_date", None, "2026-11-30") in changes
    md = digest_md(env, "2026-12-11T07:00:00Z")
    assert f"[{AUTHORISED_CTIS}](https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT={AUTHORISED_CTIS}) (EU CTIS)" in md
    assert "Status: Ongoing → Completed (Authorised → Ended)" in md
    assert rows(env["TRACKER_DB"], "SELECT count(*) FROM changes WHERE source = 'ctis'") == [(len(changes),)]


def test_a_registrys_end_date_moving_later_is_a_slipped_completion(env, settings, fake_ctis):
    _ctis(fake_ctis)
    write_query(settings.queries_dir, "eu", ctis={"containAll": "trial"})
    late = next(o for o in fake_ctis.overviews if o["ctNumber"] == "2025-522452-16-00")
    late["endDateEU"] = "31/12/2027"  # HAND-MADE: the recorded overview gives no end date; CTIS overviews carry one when set
    assert invoke(env, "update").exit_code == 0
    late.update(endDateEU="31/12/2028", lastUpdated="01/12/2026")  # a year later
    assert invoke({**env, "TRACKER_NOW": LATER}, "update").exit_code == 0
    slipped = [s for s in json.loads(invoke({**env, "TRACKER_NOW": LATER}, "signals", "--json").output) if s["kind"] == "completion_slipped"]
    assert [(s["id"], s["source"]) for s in slipped] == [("2025-522452-16-00", "ctis")]
    assert slipped[0]["summary"] == "End date in EU CTIS moved from 31 Dec 2027 to 31 Dec 2028 (12 months later), 1 time since first stored."


def test_a_ctis_trial_naming_a_stored_nct_number_is_one_study_under_the_ctgov_record(env, settings, fake_ctis, fake_ctgov):
    study = real_studies()[0]
    nct = study["protocolSection"]["identificationModule"]["nctId"]
    fake_ctgov.set_studies([study])
    _ctis(fake_ctis)
    full = copy.deepcopy(fake_ctis.full[FULL_CTIS])
    numbers = full["authorizedApplication"]["authorizedPartI"]["trialDetails"]["clinicalTrialIdentifiers"]["secondaryIdentifyingNumbers"]
    numbers["nctNumber"] = {"number": nct}  # HAND-MADE: the recorded record names no NCT number; CTIS puts it here
    fake_ctis.full[FULL_CTIS] = full
    write_query(settings.queries_dir, "both", ctgov={"query.cond": "alopecia"}, ctis={"containAll": "trial"})
    assert invoke(env, "update").exit_code == 0
    md = digest_md(env, "2026-12-04T07:00:00Z")
    assert md.count(f"[{nct}](https://clinicaltrials.gov/study/{nct})") == 1
    assert f"[{FULL_CTIS}](" in md.split(f"[{nct}](https://clinicaltrials.gov/study/{nct})")[1].split("\n- **")[0]  # named under it
    assert f"EU CTIS [{FULL_CTIS}]" in md and f"tied by ClinicalTrials.gov {nct}" in md
    shown = json.loads(invoke(env, "show", FULL_CTIS, "--json").output)
    assert (shown["source"], shown["id"]) == ("ctgov", nct)  # the preferred registration, whichever id was asked
    assert [(m["source"], m["id"], m["status"]) for m in shown["same"]] == [("ctis", FULL_CTIS, "Withdrawn (Not authorised)")]
    text = invoke(env, "show", nct).output
    assert "Also registered as (the same study):" in text and FULL_CTIS in text
    hits = json.loads(invoke(env, "search", "--source", "trials", "--json", "--limit", "100").output)
    ids = [h["id"] for h in hits]
    assert ids.count(nct) == 1 and FULL_CTIS not in ids
    assert next(h for h in hits if h["id"] == nct)["registrations"][0]["id"] == FULL_CTIS


def test_ctis_says_removed_when_retrieve_answers_nothing_and_signals_the_eu_results_duty(env, settings, fake_ctis):
    _ctis(fake_ctis)
    write_query(settings.queries_dir, "eu", ctis={"containAll": "trial"})
    assert invoke(env, "update").exit_code == 0
    signals = json.loads(invoke(env, "signals", "--json").output)
    overdue = next(s for s in signals if s["id"] == ENDED_CTIS)
    assert overdue["kind"] == "results_overdue" and overdue["source"] == "ctis"
    assert "No summary results in EU CTIS 26 months after the end of the trial (16 Sep 2024)" in overdue["summary"]
    assert "EU Clinical Trials Regulation (536/2014, Art. 37) asks for them within 12 months" in overdue["summary"]
    fake_ctis.overviews = [o for o in fake_ctis.overviews if o["ctNumber"] != AUTHORISED_CTIS]  # gone from CTIS
    result = invoke({**env, "TRACKER_NOW": LATER}, "update", "--sweep")
    assert result.exit_code == 0, result.output
    assert rows(env["TRACKER_DB"], "SELECT removed_at FROM ctis_trials WHERE trial_id = ?", AUTHORISED_CTIS) == [(LATER,)]
    removed = [s for s in json.loads(invoke(env, "signals", "--json").output) if s["kind"] == "removed"]
    assert [s["id"] for s in removed] == [AUTHORISED_CTIS] and "No longer in EU CTIS" in removed[0]["summary"]


def test_a_ctis_line_with_an_unknown_key_is_one_clear_line(env, settings):
    write_query(settings.queries_dir, "eu", ctis={"disease": "alopecia"})
    result = invoke(env, "update")
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "[ctis] has unknown key 'disease'" in result.output and "containAll" in result.output


# -- ISRCTN -------------------------------------------------------------------------------------------

def test_isrctn_counts_then_fetches_and_windows_by_last_edited(env, settings, fake_isrctn):
    _isrctn(fake_isrctn)
    write_query(settings.queries_dir, "uk", isrctn={"q": "cancer"})
    result = invoke(env, "update", "--source", "isrctn")
    assert result.exit_code == 0, result.output
    assert "fetched 4, new 4, changed 0" in result.output
    assert [(r["limit"], r["q"]) for r in fake_isrctn.requests] == [("0", "cancer"), ("4", "cancer")]  # the count, then all at once
    fake_isrctn.requests.clear()
    fake_isrctn.edited = {"ISRCTN13555554": "2026-12-10"}
    again = invoke({**env, "TRACKER_NOW": LATER}, "update", "--source", "isrctn")
    assert again.exit_code == 0, again.output
    assert "fetched 1, new 0, changed 0" in again.output
    assert fake_isrctn.requests[0]["q"] == "(cancer) AND lastEdited GE 2026-12-02T00:00:00.000Z"  # the run's day minus two


def test_isrctn_keeps_secondary_ids_statuses_and_results_links(env, settings, fake_isrctn):
    _isrctn(fake_isrctn)
    write_query(settings.queries_dir, "uk", isrctn={"q": "cancer"})
    assert invoke(env, "update").exit_code == 0
    db = env["TRACKER_DB"]
    assert rows(db, "SELECT overall_status, registry_status FROM isrctn_trials WHERE trial_id = 'ISRCTN16053507'") == [("NOT_RECRUITING", "No longer recruiting")]
    assert ("other", "11/LO/1712") in rows(db, "SELECT scheme, value FROM identifiers WHERE record_id = 'ISRCTN64724266'")
    assert rows(db, "SELECT value, via, detail FROM links WHERE source = 'isrctn'") == [("31281625", "registry_results", "RESULT")]
    shown = invoke(env, "show", "ISRCTN64724266")
    assert shown.exit_code == 0 and "https://www.isrctn.com/ISRCTN64724266" in shown.output


# -- WHO ICTRP exports -------------------------------------------------------------------------------

def export_text() -> str:
    return fixture_path(*ICTRP_EXPORT).read_text(encoding="utf-8")


def edited(tmp_path: Path, text: str, name: str = "export.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def trial_block(text: str, trial_id: str) -> str:
    return next(b for b in re.findall(r"<Trial>.*?</Trial>", text, flags=re.DOTALL) if f"<TrialID>{trial_id}" in b)


def test_an_ictrp_export_imported_twice_gives_one_result_and_folds_euctr_copies(env, settings):
    write_query(settings.queries_dir, "amyloid", ctgov={"query.cond": "amyloidosis"})
    path = fixture_path(*ICTRP_EXPORT)
    first = invoke(env, "import", "ictrp", str(path))
    assert first.exit_code == 0, first.output
    assert "amyloid [WHO ICTRP export]: 90 trials (47 ClinicalTrials.gov, 23 EU Clinical Trials Register, 9 JPRN" in first.output
    assert "new 90, changed 0, unchanged 0" in first.output
    db = env["TRACKER_DB"]
    stored = rows(db, "SELECT * FROM ictrp_trials ORDER BY trial_id")
    again = invoke({**env, "TRACKER_NOW": LATER}, "import", "ictrp", str(path))
    assert "new 0, changed 0, unchanged 90" in again.output
    assert rows(db, "SELECT * FROM ictrp_trials ORDER BY trial_id") == stored
    assert rows(db, "SELECT count(*) FROM ictrp_trial_changes") == [(0,)]
    # five member-state copies (DK, ES, HU, PL, PT) of one EudraCT trial are one trial, their countries gathered
    [(countries, registry, own)] = rows(db, "SELECT countries, registry, (SELECT value FROM identifiers i WHERE i.record_id = t.trial_id "
                                            "AND via = 'own') FROM ictrp_trials t WHERE trial_id LIKE 'EUCTR2021-000037-14%'")
    assert (registry, own) == ("EU Clinical Trials Register", "2021-000037-14") and "Denmark" in countries and "Poland" in countries
    assert rows(db, "SELECT source, status, fetched, new FROM runs") == [("ictrp", "ok", 90, 90), ("ictrp", "ok", 90, 0)]
    for shown_id in ("JPRN-jRCT2071210009", "jRCT2071210009", "EUCTR2021-000037-14-DK", "2023-507385-11-00"):
        result = invoke(env, "show", shown_id)
        assert result.exit_code == 0, (shown_id, result.output)


def test_a_newer_ictrp_export_records_what_changed(env, settings, tmp_path):
    write_query(settings.queries_dir, "amyloid", ctgov={"query.cond": "amyloidosis"})
    text = export_text()
    assert invoke(env, "import", "ictrp", str(fixture_path(*ICTRP_EXPORT))).exit_code == 0
    block = trial_block(text, "DRKS00032447")
    status = re.search(r"<Recruitment_Status>(.*?)</Recruitment_Status>", block, flags=re.DOTALL).group(1).strip()
    newer = block.replace(f"<Recruitment_Status>{status}", "<Recruitment_Status>Not recruiting" if status.lower() == "recruiting" else "<Recruitment_Status>Recruiting")
    result = invoke({**env, "TRACKER_NOW": LATER}, "import", "ictrp", str(edited(tmp_path, text.replace(block, newer))))  # HAND-MADE edit
    assert result.exit_code == 0, result.output
    assert "new 0, changed 1, unchanged 89" in result.output
    assert {f for (f,) in rows(env["TRACKER_DB"], "SELECT field FROM ictrp_trial_changes WHERE trial_id = 'DRKS00032447'")} == {"overall_status", "registry_status"}


def test_an_ictrp_copy_never_replaces_the_ctgov_record_and_is_shown_as_one_study(env, settings, fake_ctgov, tmp_path):
    study = real_studies()[0]
    nct = study["protocolSection"]["identificationModule"]["nctId"]
    fake_ctgov.set_studies([study])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    assert invoke(env, "update").exit_code == 0
    digest_md(env, "2026-12-04T07:00:00Z")  # the baseline
    before = rows(env["TRACKER_DB"], "SELECT * FROM trials")
    text = export_text()
    copy_block = trial_block(text, "NCT06360289")
    umin = trial_block(text, "JPRN-UMIN000027045")
    # HAND-MADE: an ICTRP copy of the stored CT.gov record (its TrialID made that NCT number), and a UMIN record
    # naming it among its secondary ids
    text = text.replace(copy_block, copy_block.replace("NCT06360289", nct))
    named = re.sub(r"<Secondary_ID\s*/>|<Secondary_ID>.*?</Secondary_ID>", "", umin, flags=re.DOTALL).replace(
        "</Trial>", f"<Secondary_ID>{nct}</Secondary_ID></Trial>")
    text = text.replace(umin, named)
    result = invoke({**env, "TRACKER_NOW": LATER}, "import", "ictrp", str(edited(tmp_path, text)), "--line", "line")
    assert result.exit_code == 0, result.output
    assert rows(env["TRACKER_DB"], "SELECT * FROM trials") == before  # the registry's own record is untouched
    shown = json.loads(invoke(env, "show", "UMIN000027045", "--json").output)
    assert (shown["source"], shown["id"]) == ("ctgov", nct)
    assert sorted((m["source"], m["id"]) for m in shown["same"]) == [("ictrp", "JPRN-UMIN000027045"), ("ictrp", nct)]
    md = digest_md(env, "2026-12-11T07:00:00Z")
    # a known study newly registered elsewhere is a change of that study, not a new trial
    changed = md.split("### Changed trials")[1].split("###")[0]
    assert f"[{nct}](https://clinicaltrials.gov/study/{nct})" in changed
    assert "Now also registered in JPRN via ICTRP as JPRN-UMIN000027045 (Not recruiting)" in changed
    assert f"[{nct}](" not in md.split("### New trials")[1].split("###")[0]


def test_a_broken_or_foreign_file_is_one_clear_line_and_stores_nothing(env, settings, tmp_path):
    write_query(settings.queries_dir, "amyloid", ctgov={"query.cond": "amyloidosis"})
    whole = fixture_path(*ICTRP_EXPORT).read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(whole[: len(whole) // 2])
    foreign = edited(tmp_path, "<?xml version='1.0'?><trials><trial/></trials>", "foreign.xml")
    for path, said in ((cut, "is not readable XML"), (foreign, "is not a WHO ICTRP export"), (tmp_path / "absent.xml", "cannot read")):
        result = invoke(env, "import", "ictrp", str(path))
        assert result.exit_code == 1 and result.output.count("\n") == 1 and said in result.output, result.output
        assert "Traceback" not in result.output
    assert not Path(env["TRACKER_DB"]).exists() or rows(env["TRACKER_DB"], "SELECT count(*) FROM runs") == [(0,)]


def test_an_import_needs_its_line_when_several_are_configured(env, settings):
    write_query(settings.queries_dir, "a", ctgov={"query.cond": "x"})
    write_query(settings.queries_dir, "b", ctgov={"query.cond": "y"})
    result = invoke(env, "import", "ictrp", str(fixture_path(*ICTRP_EXPORT)))
    assert result.exit_code == 1 and "--line NAME (topic lines: a, b)" in result.output


def test_a_signal_of_one_registration_names_the_study_it_belongs_to(env, settings, fake_ctis, fake_ctgov):
    study = real_studies()[0]
    nct = study["protocolSection"]["identificationModule"]["nctId"]
    fake_ctgov.set_studies([study])
    _ctis(fake_ctis)
    full = copy.deepcopy(fake_ctis.full[FULL_CTIS])  # HAND-MADE: the recorded full record, as the ended trial's, naming the NCT number
    full.update(ctNumber=ENDED_CTIS, ctPublicStatusCode=8, ctStatus="Ended")
    full["authorizedApplication"]["authorizedPartI"]["trialDetails"]["clinicalTrialIdentifiers"]["secondaryIdentifyingNumbers"]["nctNumber"] = {"number": nct}
    fake_ctis.full[ENDED_CTIS] = full
    write_query(settings.queries_dir, "both", ctgov={"query.cond": "alopecia"}, ctis={"containAll": "trial"})
    assert invoke(env, "update").exit_code == 0
    overdue = next(s for s in json.loads(invoke(env, "signals", "--json").output) if s["id"] == ENDED_CTIS)
    assert overdue["kind"] == "results_overdue"  # the EU duty is the CTIS registration's own
    assert overdue["same_study_as"] == {"source": "ctgov", "id": nct, "label": "ClinicalTrials.gov", "url": f"https://clinicaltrials.gov/study/{nct}"}
    assert f"Same study as ClinicalTrials.gov {nct}" in invoke(env, "signals").output


def test_a_ctis_trial_its_line_no_longer_returns_is_flagged_not_removed(env, settings, fake_ctis):
    _ctis(fake_ctis)
    write_query(settings.queries_dir, "eu", ctis={"containAll": "trial"})
    assert invoke(env, "update").exit_code == 0
    fake_ctis.overviews = [o for o in fake_ctis.overviews if o["ctNumber"] != FULL_CTIS]  # still in CTIS, out of the search
    assert invoke({**env, "TRACKER_NOW": LATER}, "update", "--sweep").exit_code == 0
    flags = [s for s in json.loads(invoke({**env, "TRACKER_NOW": LATER}, "signals", "--json").output) if s["kind"] in ("no_longer_matched", "removed")]
    assert [(s["kind"], s["id"], s["source"]) for s in flags] == [("no_longer_matched", FULL_CTIS, "ctis")]


def test_the_claims_register_reads_a_lines_trials_of_every_registry(env, settings, fake_ctis):
    _ctis(fake_ctis)
    write_query(settings.queries_dir, "eu", ctis={"containAll": "trial"})
    (settings.queries_dir / "claims.toml").write_text(
        "[[claim]]\nid = 'E1'\nwording = 'No completed linagliptin trial exists.'\nwhere = 'test'\nas_of = '2024-01-01'\n"
        "[[claim.check]]\nkind = 'none_exists'\nline = 'eu'\nany_of = [{statuses = ['COMPLETED']}]\nrequire_terms = ['linagliptin']\n"
        "match_title = true\n", encoding="utf-8")
    assert invoke(env, "update").exit_code == 0
    result = invoke(env, "claims", "--offline", "--json")
    [claim] = json.loads(result.output)
    assert claim["verdict"] == "OUTDATED", claim
    assert [(e["id"], e["role"]) for e in claim["evidence"]] == [(ENDED_CTIS, "match")]
