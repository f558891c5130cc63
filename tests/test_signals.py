"""Evidence signals: each rule at its edges on recorded records with a pinned clock, the registry sweep against a
local server (a removal found, none read from an error), and a signal's life across updates and digests."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timezone

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.rules import Thresholds, completion_slipped, resolve_date
from tracker.sources.ctgov.signals import results_overdue, stale_status
from tracker.sources import ctgov
from tracker.sources.ctgov import trial_row
from tracker.store import open_store

from .conftest import real_studies, write_query

T = Thresholds()
TODAY = date(2026, 11, 24)


def interventional() -> dict:
    return next(s for s in real_studies() if (s["protocolSection"].get("designModule") or {}).get("studyType") == "INTERVENTIONAL"
                and "statusModule" in s["protocolSection"])


def trial(*, status="COMPLETED", pcd=("2025-11-24", "ACTUAL"), results=False, enrolled=(40, "ACTUAL"), oversight=None,
          submitted=None, extension=None, updated="2026-01-10", study_type="INTERVENTIONAL") -> dict:
    """A real recorded study with its status, dates and flags set as given, as the store keeps it."""
    study = copy.deepcopy(interventional())
    p = study["protocolSection"]
    s = p["statusModule"]
    s["overallStatus"] = status
    s.pop("resultsFirstPostDateStruct", None)
    study.pop("resultsSection", None)
    study["hasResults"] = results
    if pcd is None:
        s.pop("primaryCompletionDateStruct", None)
    else:
        s["primaryCompletionDateStruct"] = {"date": pcd[0], "type": pcd[1]}
    s["lastUpdatePostDateStruct"] = {"date": updated, "type": "ACTUAL"}
    for key, value in (("resultsFirstSubmitDate", submitted), ("dispFirstSubmitDate", extension)):
        s.pop(key, None)
        if value:
            s[key] = value
    p["designModule"]["studyType"] = study_type
    p["designModule"]["enrollmentInfo"] = {"count": enrolled[0], "type": enrolled[1]}
    p["oversightModule"] = oversight or {}
    return trial_row(ctgov.parse_study(study))


def overdue(row, links=()):
    return results_overdue(row, list(links), TODAY, T)


# -- results_overdue -------------------------------------------------------------------------------

def test_overdue_starts_the_day_after_twelve_months_from_an_actual_primary_completion():
    assert overdue(trial(pcd=("2025-11-24", "ACTUAL"))) is None  # exactly 12 months: due today, not late
    signal = overdue(trial(pcd=("2025-11-23", "ACTUAL")))
    assert signal.kind == "results_overdue"
    assert signal.detail["months"] == 12 and signal.detail["months_overdue"] == 0 and signal.detail["due_date"] == "2026-11-23"
    assert signal.summary.startswith("No results posted on ClinicalTrials.gov 12 months after primary completion (23 Nov 2025, actual)")


def test_an_estimated_date_counts_only_for_completed_or_terminated_trials():
    assert overdue(trial(status="ACTIVE_NOT_RECRUITING", pcd=("2024-01-15", "ESTIMATED"))) is None
    assert overdue(trial(status="COMPLETED", pcd=("2024-01-15", "ESTIMATED"))).detail["months"] == 34
    assert overdue(trial(status="TERMINATED", pcd=("2024-01-15", "ESTIMATED"))) is not None
    assert overdue(trial(status="ACTIVE_NOT_RECRUITING", pcd=("2024-01-15", "ACTUAL"))) is not None


def test_partial_dates_resolve_to_the_end_of_their_period_in_the_sponsors_favour():
    assert resolve_date("2025-11") == date(2025, 11, 30) and resolve_date("2025") == date(2025, 12, 31)
    assert overdue(trial(pcd=("2025-11", "ACTUAL"))) is None  # 2025-11-30 + 12 months is still ahead
    assert overdue(trial(pcd=("2025-10", "ACTUAL"))).detail["due_date"] == "2026-10-31"
    assert overdue(trial(pcd=("2025", "ACTUAL"))) is None


@pytest.mark.parametrize("pcd", [None, ("", "ACTUAL"), ("2025-13-01", "ACTUAL"), ("soon", "ACTUAL"), ("2031-01-01", "ACTUAL")])
def test_missing_malformed_or_future_dates_raise_nothing(pcd):
    row = trial(pcd=pcd)
    assert overdue(row) is None and stale_status(row, TODAY, T) is None


def test_withdrawn_and_terminated_with_nobody_enrolled_owe_no_results():
    assert overdue(trial(status="WITHDRAWN", enrolled=(0, "ACTUAL"), pcd=("2020-01-01", "ACTUAL"))) is None
    assert overdue(trial(status="TERMINATED", enrolled=(0, "ACTUAL"), pcd=("2020-01-01", "ACTUAL"))) is None
    assert overdue(trial(status="TERMINATED", enrolled=(3, "ACTUAL"), pcd=("2020-01-01", "ACTUAL"))) is not None
    assert overdue(trial(status="TERMINATED", enrolled=(0, "ESTIMATED"), pcd=("2020-01-01", "ACTUAL"))) is not None


def test_posted_or_submitted_results_and_observational_studies_are_not_overdue():
    assert overdue(trial(results=True, pcd=("2020-01-01", "ACTUAL"))) is None
    assert overdue(trial(submitted="2026-10-01", pcd=("2020-01-01", "ACTUAL"))) is None
    assert overdue(trial(study_type="OBSERVATIONAL", pcd=("2020-01-01", "ACTUAL"))) is None


def test_fdaaa_flag_publication_and_extension_shape_the_wording_and_the_rank():
    plain = overdue(trial(pcd=("2024-06-30", "ACTUAL")))
    fdaaa = overdue(trial(pcd=("2024-06-30", "ACTUAL"), oversight={"isFdaRegulatedDrug": True, "isFdaRegulatedDevice": False}))
    published = overdue(trial(pcd=("2024-06-30", "ACTUAL")), links=["31337037"])
    assert fdaaa.detail["fdaaa_applicable"] and fdaaa.detail["fda_regulated"] == ["drug"]
    assert "FDAAA-applicable (FDA-regulated drug)" in fdaaa.summary and "FDAAA" not in plain.summary
    assert "Published, no registry results: PMID 31337037." in published.summary
    assert fdaaa.rank < plain.rank < published.rank
    # a certification of delay or an extension moves the deadline by two years
    assert overdue(trial(pcd=("2024-06-30", "ACTUAL"), extension="2025-06-01")) is None
    assert overdue(trial(pcd=("2022-06-30", "ACTUAL"), extension="2023-06-01")).detail["due_date"] == "2025-06-30"


# -- completion_slipped and stale_status -----------------------------------------------------------

def history(*values):
    return [{"old_value": a, "new_value": b} for a, b in zip(values, values[1:])]


def test_slipped_counts_against_the_earliest_stored_value_and_the_moves():
    row = trial(pcd=("2027-03", "ESTIMATED"))
    assert completion_slipped(row, [], T) is None
    assert completion_slipped(row, history("2026-10", "2027-03"), T) is None  # 2026-10-31 -> 2027-03-31: five months
    signal = completion_slipped(row, history("2026-09", "2026-12", "2027-03"), T)
    assert (signal.detail["first"], signal.detail["current"], signal.detail["moves"], signal.detail["months"]) == ("2026-09", "2027-03", 2, 6)
    assert signal.summary == "Primary completion date moved from Sep 2026 to Mar 2027 (6 months later), 2 times since first stored."
    assert completion_slipped(row, history(None, "2027-03"), T) is None  # no earlier date stored
    # first stored without a date: counted from the first date it gave; a date given, or made precise, is no move
    late = completion_slipped(trial(pcd=("2027-04-15", "ESTIMATED")), history(None, "2026-09", "2027-04", "2027-04-15"), T)
    assert (late.detail["first"], late.detail["moves"], late.detail["months"]) == ("2026-09", 1, 6)


def test_stale_status_after_completion_or_two_years_without_an_update():
    assert stale_status(trial(status="RECRUITING", pcd=("2025-11-24", "ESTIMATED")), TODAY, T) is None
    late = stale_status(trial(status="RECRUITING", pcd=("2025-11-23", "ESTIMATED")), TODAY, T)
    assert late.summary == "Still listed as Recruiting 12 months after its primary completion date (23 Nov 2025)."
    quiet = stale_status(trial(status="NOT_YET_RECRUITING", pcd=("2027-01-01", "ESTIMATED"), updated="2024-11-23"), TODAY, T)
    assert quiet.summary == "Still listed as Not yet recruiting with no registry update since 23 Nov 2024."
    assert stale_status(trial(status="COMPLETED", pcd=("2020-01-01", "ACTUAL"), updated="2020-02-01"), TODAY, T) is None


def test_a_resolved_signal_says_why_from_what_is_stored_now():
    from tracker.signals import resolution

    def why(kind, row, retracted=()):
        return resolution(kind, row.get("nct_id") or row["pmid"], row if "nct_id" in row else None, set(retracted))

    assert why("results_overdue", trial(results=True)) == "results posted"  # the recording's own post date is removed
    assert why("results_overdue", trial(submitted="2026-11-20")) == "results submitted on 20 Nov 2026, in quality control"
    assert why("results_overdue", trial(extension="2026-11-02")) == "a certification or extension was filed on 2 Nov 2026 (deadline moved)"
    assert why("results_overdue", trial(status="WITHDRAWN", enrolled=(0, "ACTUAL"))) == "status now Withdrawn: no results expected"
    # not good news: the date moved
    assert why("results_overdue", trial(status="RECRUITING", pcd=("2027-06", "ESTIMATED"))) == "primary completion date now Jun 2027 (estimated)"
    assert why("completion_slipped", trial(pcd=("2026-09", "ESTIMATED"))) == "primary completion date now Sep 2026 (estimated)"
    assert why("stale_status", trial(status="COMPLETED")) == "status now Completed"
    assert why("stale_status", trial(status="RECRUITING", pcd=("2027-06", "ESTIMATED"), updated="2026-11-20")) == (
        "record updated on 20 Nov 2026; primary completion date Jun 2027")
    assert why("removed", trial()) == "back in ClinicalTrials.gov under its own number"
    assert why("retracted_linked", {"pmid": "123"}) == "no longer marked retracted in PubMed"
    assert why("retracted_linked", {"pmid": "123"}, ["123"]) == "no longer linked to a tracked trial or cited by a claim"


# -- through the command line: updates, the sweep and the digest -----------------------------------

LINE = {"query.cond": "alopecia"}


def invoke(env, *args, now):
    return CliRunner().invoke(cli, list(args), env={**env, "TRACKER_NOW": now}, catch_exceptions=False)


def signals_json(env, *args, now="2026-11-24T08:00:00Z"):
    result = invoke(env, "signals", "--json", *args, now=now)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def registry(env, settings, fake_ctgov):
    studies = real_studies()
    fake_ctgov.set_studies(studies)
    write_query(settings.queries_dir, "line", ctgov=LINE)
    assert invoke(env, "update", "--source", "ctgov", now="2026-11-20T06:00:00Z").exit_code == 0
    return {"env": env, "ids": [s["protocolSection"]["identificationModule"]["nctId"] for s in studies]}


def test_the_sweep_finds_a_removed_record_and_confirms_it_by_its_number(registry, fake_ctgov):
    env, gone = registry["env"], registry["ids"][1]
    fake_ctgov.studies = [s for s in fake_ctgov.studies if s["protocolSection"]["identificationModule"]["nctId"] != gone]
    fake_ctgov.requests.clear()
    result = invoke(env, "update", "--source", "ctgov", "--sweep", now="2026-11-24T06:00:00Z")
    assert result.exit_code == 0, result.output
    id_requests = [r for r in fake_ctgov.requests if "filter.ids" in r]
    assert len(id_requests) == 2  # every stored record in one request, then the line's own check
    assert [r["path"] for r in fake_ctgov.requests if "path" in r] == [f"/api/v2/studies/{gone}"]
    removed = signals_json(env, "--kind", "removed")
    assert [(s["kind"], s["id"], s["raised_at"]) for s in removed] == [("removed", gone, "2026-11-24T06:00:00Z")]
    assert removed[0]["summary"].startswith(f"No longer in ClinicalTrials.gov: asked for {gone} by its number, the registry answered 'not found'")
    assert set(removed[0]) >= {"kind", "id", "title", "lines", "raised_at", "detail"} and removed[0]["lines"] == ["line"]
    show = invoke(env, "show", gone, now="2026-11-24T08:00:00Z")
    assert "Needs attention:\n  removed (since 2026-11-24): No longer in ClinicalTrials.gov" in show.output
    # listings and searches mark the copy, as they mark a retracted paper
    listed = json.loads(invoke(env, "search", "--line", "line", "--json", "--limit", "100", now="2026-11-24T08:00:00Z").output)
    assert [(h["id"], h["removed"]) for h in listed if h["removed"]] == [(gone, True)]
    text = invoke(env, "search", "--line", "line", "--limit", "100", now="2026-11-24T08:00:00Z").output
    assert text.count("REMOVED from the registry") == 1
    # the CSV form reads back with the same fields, the detail as JSON text
    import csv
    import io

    table = invoke(env, "signals", "--csv", "--kind", "removed", now="2026-11-24T08:00:00Z")
    [row] = list(csv.DictReader(io.StringIO(table.output)))
    assert (row["kind"], row["id"], row["lines"], row["summary"]) == ("removed", gone, "line", removed[0]["summary"])
    assert json.loads(row["detail"]) == removed[0]["detail"]


def test_a_number_that_now_leads_to_another_record_is_merged_not_removed(registry, fake_ctgov):
    env, old = registry["env"], registry["ids"][1]
    new = "NCT99999901"
    record = fake_ctgov.study(old)
    record["protocolSection"]["identificationModule"]["nctId"] = new  # the registry holds it under the new number only
    fake_ctgov.aliases[old] = new
    result = invoke(env, "update", "--source", "ctgov", "--sweep", now="2026-11-24T06:00:00Z")
    assert result.exit_code == 0, result.output
    assert f"merged {old} -> {new}" in result.output
    assert signals_json(env, "--kind", "removed") == []
    [flag] = signals_json(env, "--kind", "merged")
    assert (flag["id"], flag["detail"]["merged_into"], flag["raised_at"]) == (old, new, "2026-11-24T06:00:00Z")
    assert flag["summary"].startswith(f"Merged in ClinicalTrials.gov: asked for {old} by its number, the registry answered with {new}")
    assert old not in [s["id"] for s in signals_json(env) if s["kind"] != "merged"]  # the frozen copy raises nothing else
    assert old in line_ids(env)  # still the line's: the line check does not read a merge as an edit
    show = json.loads(invoke(env, "show", old, "--json", now="2026-11-24T08:00:00Z").output)
    assert show["record"]["merged_into"] == new
    # the text forms print the whole summary, wrapped: the new number at its end is what a reader needs
    for args in (("signals", "--kind", "merged"), ("show", old)):
        text = invoke(env, *args, now="2026-11-24T08:00:00Z").output
        assert f"Follow {new}." in " ".join(text.split())  # (a long title may still be cut in the listing's header)
        assert max(len(line) for line in text.splitlines() if "Merged" in line or "Follow" in line) <= 100
    # the registry splits them again: the number answers as itself, and the signal resolves
    record["protocolSection"]["identificationModule"]["nctId"] = old
    del fake_ctgov.aliases[old]
    assert invoke(env, "update", "--source", "ctgov", "--sweep", now="2026-11-25T06:00:00Z").exit_code == 0
    assert signals_json(env, "--kind", "merged") == []
    [closed] = signals_json(env, "--kind", "merged", "--all")
    assert closed["resolved_at"] == "2026-11-25T06:00:00Z"


def test_an_error_from_the_registry_is_never_read_as_a_removal(registry, fake_ctgov):
    from werkzeug import Response

    env, gone = registry["env"], registry["ids"][1]
    fake_ctgov.studies = [s for s in fake_ctgov.studies if s["protocolSection"]["identificationModule"]["nctId"] != gone]
    fake_ctgov.always = lambda request: Response("upstream down", status=503) if request.path.endswith(gone) else None
    result = invoke(env, "update", "--source", "ctgov", "--sweep", now="2026-11-24T06:00:00Z")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith("Error: 1 of 2 updates failed; first: (registry sweep) [ctgov]: registry sweep failed, nothing marked removed: ClinicalTrials.gov:")
    assert signals_json(env, "--kind", "removed") == []
    with open_store(registry_db(env)) as store:
        assert store.db.execute("SELECT status FROM sweeps ORDER BY id DESC LIMIT 1").fetchone() == ("failed",)
        assert store.db.execute("SELECT count(*) FROM trials WHERE removed_at IS NOT NULL").fetchone() == (0,)


def registry_db(env):
    return env["TRACKER_DB"]


def line_ids(env):
    result = invoke(env, "search", "--line", "line", "--source", "trials", "--limit", "1000", "--json", now="2026-11-25T08:00:00Z")
    assert result.exit_code == 0, result.output
    return {hit["id"] for hit in json.loads(result.output)}


def test_a_trial_no_longer_returned_by_its_line_is_flagged_and_a_removal_resolves_when_it_returns(registry, fake_ctgov):
    env, ids = registry["env"], registry["ids"]
    edited = ids[2]
    fake_ctgov.line_filter = lambda params, study: not ("query.cond" in params and study["protocolSection"]["identificationModule"]["nctId"] == edited)
    assert invoke(env, "update", "--source", "ctgov", "--sweep", now="2026-11-24T06:00:00Z").exit_code == 0
    [flag] = signals_json(env, "--kind", "no_longer_matched")
    assert (flag["id"], flag["detail"]["line"]) == (edited, "line")
    # --line means what the line returns today, as Datasette's topic-line facet does; the signal keeps the record in view
    assert edited not in line_ids(env) and set(ids) - {edited} <= line_ids(env)
    assert [s["id"] for s in signals_json(env, "--line", "line", "--kind", "no_longer_matched")] == [edited]
    fake_ctgov.line_filter = None
    assert invoke(env, "update", "--source", "ctgov", "--sweep", now="2026-11-25T06:00:00Z").exit_code == 0
    assert signals_json(env, "--kind", "no_longer_matched") == []
    assert edited in line_ids(env)
    [resolved] = signals_json(env, "--kind", "no_longer_matched", "--all")
    assert (resolved["raised_at"], resolved["resolved_at"]) == ("2026-11-24T06:00:00Z", "2026-11-25T06:00:00Z")


def test_no_sweep_while_no_trial_is_stored_so_the_first_real_one_is_not_put_off(env, settings, fake_ctgov):
    from werkzeug import Response

    fake_ctgov.set_studies(real_studies())
    write_query(settings.queries_dir, "line", ctgov=LINE)
    fake_ctgov.always = lambda request: Response("`query.cond` is unknown parameter", status=400)  # a first run set up wrong
    failed = invoke(env, "update", "--source", "ctgov", now="2026-11-20T06:00:00Z")
    assert failed.exit_code == 1 and "registry sweep" not in failed.output
    fake_ctgov.always = None
    assert invoke(env, "update", "--source", "ctgov", now="2026-11-21T06:00:00Z").exit_code == 0
    with open_store(settings.db_path) as store:  # the first update that stored trials swept them the same day
        assert store.db.execute("SELECT started_at, status FROM sweeps").fetchall() == [("2026-11-21T06:00:00Z", "ok")]


def test_no_signal_from_an_empty_database_is_not_read_as_an_all_clear(env, settings, registry):
    empty = {**env, "TRACKER_DB": str(settings.db_path.with_name("empty.db"))}
    open_store(empty["TRACKER_DB"]).close()
    result = CliRunner().invoke(cli, ["signals"], env={**empty, "TRACKER_NOW": "2026-11-24T08:00:00Z"})
    assert result.exit_code == 0 and result.output.startswith("no evidence signal: no trial is stored yet")
    stored = CliRunner().invoke(cli, ["signals", "--kind", "merged"], env={**env, "TRACKER_NOW": "2026-11-24T08:00:00Z"})
    assert stored.exit_code == 0 and stored.output == "no evidence signal matches\n"


def test_the_sweep_runs_when_due_and_asks_nothing_between(registry, fake_ctgov):
    env = registry["env"]
    fake_ctgov.requests.clear()
    assert invoke(env, "update", "--source", "ctgov", now="2026-11-21T06:00:00Z").exit_code == 0
    assert not [r for r in fake_ctgov.requests if "filter.ids" in r]  # the first update's own fetch counted as a sweep
    assert invoke(env, "update", "--source", "ctgov", now="2026-11-27T06:00:01Z").exit_code == 0
    assert [r for r in fake_ctgov.requests if "filter.ids" in r]  # seven days on


def test_a_signal_opens_then_resolves_across_two_updates_and_digests_show_only_their_window(registry, fake_ctgov):
    env = registry["env"]
    first = invoke(env, "digest", "--format", "md", now="2026-11-20T07:00:00Z")
    assert first.exit_code == 0
    baseline = (registry_reports(env) / "digest-2026-11-20.md").read_text()
    open_now = signals_json(env, now="2026-11-20T08:00:00Z")
    counts = {}
    for s in open_now:
        counts[s["kind"]] = counts.get(s["kind"], 0) + 1
    from tracker.labels import SIGNAL_LABELS
    from tracker.signals import KINDS

    section = baseline.split("## Needs attention", 1)[1].split("\n## ", 1)[0].strip().splitlines()
    assert section[0].startswith("This is the first digest of this database, so open evidence signals are counted")
    assert section[1:] == [f"- {SIGNAL_LABELS[k]}: {counts[k]}" for k in KINDS if k in counts]
    assert "No results posted" not in baseline  # the backlog is counted, not listed

    target = next(s for s in open_now if s["kind"] == "results_overdue")["id"]
    study = fake_ctgov.study(target)
    study["hasResults"] = True
    study["protocolSection"]["statusModule"]["resultsFirstPostDateStruct"] = {"date": "2026-11-23", "type": "ACTUAL"}
    study["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"] = {"date": "2026-11-23", "type": "ACTUAL"}
    assert invoke(env, "update", "--source", "ctgov", now="2026-11-24T06:00:00Z").exit_code == 0
    assert target not in [s["id"] for s in signals_json(env, "--kind", "results_overdue")]
    [closed] = [s for s in signals_json(env, "--all", "--kind", "results_overdue") if s["id"] == target]
    assert (closed["resolved_at"], closed["resolution"]) == ("2026-11-24T06:00:00Z", "results posted on 23 Nov 2026")
    assert invoke(env, "digest", "--format", "md", now="2026-11-24T07:00:00Z").exit_code == 0
    week = (registry_reports(env) / "digest-2026-11-24.md").read_text()
    attention = week.split("## Needs attention", 1)[1].split("\n## ", 1)[0]
    assert attention.strip().splitlines() == ["Resolved in this window:", f"- Results overdue: [{target}](https://clinicaltrials.gov/study/{target}) "
                                              + attention.split(f"[{target}](https://clinicaltrials.gov/study/{target}) ", 1)[1].strip()]
    assert "(raised 20 Nov 2026): results posted on 23 Nov 2026" in attention


def registry_reports(env):
    from pathlib import Path

    return Path(env["TRACKER_REPORTS"])


def test_search_and_export_take_a_signal_kind(registry):
    env = registry["env"]
    overdue_ids = sorted(s["id"] for s in signals_json(env, "--kind", "results_overdue"))
    assert overdue_ids
    result = invoke(env, "export", "trials", "--format", "json", "--signal", "results_overdue", now="2026-11-24T08:00:00Z")
    assert sorted(r["nct_id"] for r in json.loads(result.output)) == overdue_ids
    hits = json.loads(invoke(env, "search", "study", "--json", "--source", "trials", "--signal", "results_overdue", now="2026-11-24T08:00:00Z").output)
    assert {h["id"] for h in hits} <= set(overdue_ids)


def test_signals_on_a_missing_database_is_one_line(env, tmp_path):
    result = invoke(env, "signals", "--db", str(tmp_path / "none.db"), now="2026-11-24T08:00:00Z")
    assert (result.exit_code, result.output.count("\n")) == (1, 1) and "no database at" in result.output


def test_a_retracted_paper_linked_to_a_trial_or_cited_by_a_claim_is_flagged(tmp_path):
    from tracker.models import Correction, Publication
    from tracker.signals import refresh_signals
    from tracker.store import save_records, select_signals

    now = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
    study = interventional()
    nct = study["protocolSection"]["identificationModule"]["nctId"]
    notice = Correction(type="RetractionIn", pmid="99000002", source="J X. 2026")
    linked = Publication(pmid="31337037", title="Linked, then retracted", nct_ids=(nct,), is_retracted=True, corrections=(notice,))
    cited = Publication(pmid="24468981", title="Cited by a claim, then retracted", is_retracted=True)
    bystander = Publication(pmid="11111111", title="Retracted, used by nothing here", is_retracted=True)
    with open_store(tmp_path / "t.db") as store:
        with store.transaction():
            save_records(store, "ctgov", [ctgov.parse_study(study)], query="line", run_id=None, now=now)
            save_records(store, "pubmed", [linked, cited, bystander], query="papers", run_id=None, now=now)
        refresh_signals(store, now=now, thresholds=T, claim_pmids={"24468981": ["C4"]})
        found = [(s["record_id"], s["summary"]) for s in select_signals(store, kind="retracted_linked")]
    assert found == [
        ("24468981", "Retracted publication (PMID 24468981) cited by claim C4."),
        ("31337037", f"Retracted publication (PMID 31337037) linked to {nct}. Retraction notice: PMID 99000002."),
    ]
