import json
import logging
from dataclasses import fields

import pytest

from tracker.errors import ApiError
from tracker.models import Publication, Reference, Trial, built
from tracker.sources import ctgov

from .conftest import load_json, real_studies


def test_every_real_study_parses_with_its_id_and_url():
    studies = real_studies()
    assert len(studies) >= 40
    for study in studies:
        trial = ctgov.parse_study(study)
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        assert trial.nct_id == nct
        assert trial.url == f"https://clinicaltrials.gov/study/{nct}"
        assert json.loads(trial.raw_json) == study


def test_records_built_without_init_equal_those_init_makes():
    # parsers build records with models.built (the frozen dataclass __init__ is slow); it must be the same record
    for study in real_studies():
        trial = ctgov.parse_study(study)
        assert trial == Trial(**trial.__dict__)
        assert list(trial.__dict__) == [f.name for f in fields(Trial)]  # rows take their column order from here
    assert built(Publication, pmid="1") == Publication(pmid="1")
    with pytest.raises(TypeError, match=r"unknown fields \['nct'\]"):
        built(Trial, nct_id="NCT1", title=None, nct="x")
    with pytest.raises(TypeError, match=r"missing fields \['title'\]"):
        built(Trial, nct_id="NCT1")


def test_withdrawn_study_keeps_status_reason_and_partial_dates():
    trial = ctgov.parse_study(load_json("ctgov", "v2", "single", "aact_NCT00973089.json"))
    assert trial.overall_status == "WITHDRAWN"
    assert trial.why_stopped and trial.why_stopped.startswith("recruiting or enrolling partic")
    assert trial.phases == ("NA",)
    assert trial.has_results is False
    status = load_json("ctgov", "v2", "single", "aact_NCT00973089.json")["protocolSection"]["statusModule"]
    assert trial.start_date == status["startDateStruct"]["date"]
    assert trial.start_date_type == status["startDateStruct"].get("type")


def test_study_with_results_has_posting_date_references_and_enrollment():
    trial = ctgov.parse_study(load_json("ctgov", "v2", "single", "aact_NCT02552212.json"))
    assert (trial.overall_status, trial.has_results, trial.results_first_posted_date) == ("COMPLETED", True, "2020-08-17")
    assert (trial.phases, trial.enrollment, trial.enrollment_type) == (("PHASE3",), 317, "ACTUAL")
    assert (trial.lead_sponsor, trial.lead_sponsor_class) == ("UCB BIOSCIENCES GmbH", "INDUSTRY")
    assert (trial.start_date, trial.start_date_type) == ("2015-09", "ACTUAL")
    assert (trial.primary_completion_date, trial.completion_date) == ("2018-05", "2020-05")
    assert (trial.first_posted_date, trial.last_update_posted_date) == ("2015-09-17", "2022-08-18")
    assert Reference(pmid="35296532", type="RESULT") in trial.references
    assert "BIOLOGICAL: Certolizumab Pegol" in trial.interventions
    assert "United States" in trial.countries


def test_study_with_missing_modules_parses_to_none_fields():
    trial = ctgov.parse_study(load_json("ctgov", "v2", "single", "aact_NCT03453554.json"))
    assert trial.nct_id == "NCT03453554"
    assert trial.title
    assert (trial.overall_status, trial.phases, trial.enrollment, trial.lead_sponsor, trial.conditions) == (None, (), None, None, ())


def test_study_without_protocol_section_is_skipped_with_a_warning_naming_it(caplog):
    good = load_json("ctgov", "v2", "single", "aact_NCT02552212.json")
    page = ctgov.Page(studies=[{"hasResults": False}, {"protocolSection": {"identificationModule": {}}}, good], total_count=3, next_page_token=None)
    with caplog.at_level(logging.WARNING, logger="tracker.ctgov"):
        trials = list(ctgov.parse_page(page))
    assert [t.nct_id for t in trials] == ["NCT02552212"]
    assert "has no protocolSection" in caplog.text
    assert "without identificationModule.nctId" in caplog.text
    with pytest.raises(ApiError):
        ctgov.parse_study({"hasResults": True})


def test_search_params_and_the_date_window_with_the_lines_own_filter():
    from datetime import date

    from tracker.models import Query

    query = Query(name="x", title="x", description="", params={"ctgov": {"query.cond": "alopecia", "filter.advanced": "AREA[StudyType]INTERVENTIONAL"}})
    params = ctgov.search_params(query, since=ctgov.SOURCE.window_start("2026-11-20"))
    assert params == {
        "query.cond": "alopecia",
        "filter.advanced": "(AREA[StudyType]INTERVENTIONAL) AND AREA[LastUpdatePostDate]RANGE[2026-11-19,MAX]",
        "pageSize": "1000",
        "format": "json",
    }
    assert ctgov.search_params(query)["filter.advanced"] == "AREA[StudyType]INTERVENTIONAL"
    bare = Query(name="y", title="y", description="", params={"ctgov": {"query.term": "x"}})
    assert ctgov.search_params(bare, since=date(2026, 1, 2))["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-01-02,MAX]"


def test_a_list_field_of_the_wrong_shape_is_read_faithfully_or_as_empty_and_keeps_the_record():
    study = json.loads(json.dumps(real_studies()[0]))
    p = study["protocolSection"]
    p.setdefault("designModule", {})["phases"] = "PHASE2"  # a string, not a list: read as the list of it (warned)
    p["designModule"]["enrollmentInfo"] = {"count": float("inf"), "type": "ACTUAL"}
    p["conditionsModule"] = {"conditions": ["Alopecia", ["nested"], {"x": 1}, None, "Alopecia"]}
    p["armsInterventionsModule"] = {"interventions": {"type": "BIOLOGICAL", "name": "cells"}}  # an object, not a list
    p["contactsLocationsModule"] = {"locations": [{"country": ["Japan"]}, {"country": "Japan"}, "Tokyo"]}
    p["referencesModule"] = {"references": True}
    trial = ctgov.parse_study(study)
    assert (trial.phases, trial.enrollment, trial.conditions) == (("PHASE2",), None, ("Alopecia",))
    assert (trial.interventions, trial.countries, trial.references) == ((), ("Japan",), ())
