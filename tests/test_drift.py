"""Answers whose shape drifts (issue: faithful or loudly refused): for every source, a mutation table over its REAL
recordings, one drifted field per record. Each row says what the field came as, what must be stored, and what the
one warning must say; the line must still succeed and store every record. Then the digest's note of the drift, the
warning said once per run, and the recordings themselves read with no drift at all.

Every mutation is HAND-MADE (a schema change no recording has), made on a copy of a recorded record where the row
is built; the records are otherwise the recordings as they are."""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Callable


from .conftest import ICTRP_EXPORT, digest_md, fixture_path, invoke_cli, load_json, real_studies, rows, write_query
from .test_pubmed import real_articles
from .test_sources_contract import _ctis, _isrctn

FIRST = "2026-12-04T06:00:00Z"


def invoke(env, *args):
    return invoke_cli(env, *args, default_now=FIRST)


def _set(path: str, value: Any) -> Callable[[dict], None]:
    """A mutation: the value at a dotted path of a study's protocolSection (created where missing)."""
    def mutate(study: dict) -> None:
        *parents, last = path.split(".")
        node = study["protocolSection"]
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return mutate


def _top(name: str, value: Any) -> Callable[[dict], None]:
    def mutate(study: dict) -> None:
        study[name] = value
    return mutate


# (what drifted, the mutation, the column, what must be stored, what the warning says)
CTGOV_TABLE = [
    ("a boolean as the string 'false'", _top("hasResults", "false"), "has_results", 0, 'hasResults came as "false", not true/false; read as false'),
    ("a boolean as a word nobody documents", _set("oversightModule.isFdaRegulatedDrug", "maybe"), "is_fda_regulated_drug", None,
     'isFdaRegulatedDrug came as "maybe", not true/false; read as absent'),
    ("one text where a list is documented", _set("designModule.phases", "PHASE2"), "phases", '["PHASE2"]',
     'phases came as "PHASE2", one text where a list is documented; read as ["PHASE2"]'),
    ("conditions as one text", _set("conditionsModule.conditions", "Alopecia"), "conditions", '["Alopecia"]', 'conditions came as "Alopecia"'),
    ("a list holding an object", _set("conditionsModule.conditions", ["Alopecia", {"term": "x"}]), "conditions", '["Alopecia"]',
     'conditions came as [{"term": "x"}], items that are not text'),
    ("a count as text", _set("designModule.enrollmentInfo", {"count": "37", "type": "ACTUAL"}), "enrollment", 37,
     'enrollmentInfo.count came as "37", not in its documented form; read as 37'),
    ("a count past what SQLite holds", _set("designModule.enrollmentInfo", {"count": 10 ** 30, "type": "ACTUAL"}), "enrollment", None,
     "enrollmentInfo.count came as 1000000000000000000000000000000, past what can be stored; read as absent"),
    ("a negative count", _set("designModule.enrollmentInfo", {"count": -5, "type": "ACTUAL"}), "enrollment", None,
     "enrollmentInfo.count came as -5, not a count"),
    ("an object where text is", _set("statusModule.overallStatus", {"value": "RECRUITING"}), "overall_status", None,
     'overallStatus came as {"value": "RECRUITING"}, not in its documented form; read as absent'),
    ("a list where text is", _set("identificationModule.briefTitle", ["A", "B"]), "title", None, 'briefTitle came as ["A", "B"]'),
    ("a number where text is", _set("statusModule.whyStopped", 42), "why_stopped", "42", 'whyStopped came as 42, not in its documented form; read as "42"'),
    ("a month that does not exist", _set("statusModule.startDateStruct", {"date": "2025-13", "type": "ACTUAL"}), "start_date", None,
     'startDateStruct.date came as "2025-13", not a date that exists; read as absent'),
    ("a day that does not exist", _set("statusModule.completionDateStruct", {"date": "2025-02-30", "type": "ESTIMATED"}), "completion_date", None,
     'completionDateStruct.date came as "2025-02-30", not a date that exists'),
    ("a date as a number", _set("statusModule.startDateStruct", {"date": 20250101, "type": "ACTUAL"}), "start_date", "2025-01-01",
     'startDateStruct.date came as 20250101, not in its documented form; read as "2025-01-01"'),
    ("a date in another form", _set("statusModule.primaryCompletionDateStruct", {"date": "01/02/2025"}), "primary_completion_date", None,
     'primaryCompletionDateStruct.date came as "01/02/2025", not in its documented form; read as absent'),
    ("a module that is not an object", _set("designModule", "INTERVENTIONAL"), "study_type", None, 'designModule came as "INTERVENTIONAL", not an object'),
]


def _plain_studies() -> list[dict]:
    """Recorded studies without results of any kind, so a flag's drift is the only thing that could say 'posted'."""
    return [s for s in real_studies() if not s.get("hasResults") and "resultsSection" not in s
            and "resultsFirstPostDateStruct" not in s["protocolSection"].get("statusModule", {})]


def test_ctgov_fields_that_drift_are_read_faithfully_or_kept_absent_each_said_once(env, settings, fake_ctgov):
    studies = copy.deepcopy(_plain_studies()[:len(CTGOV_TABLE)])
    assert len(studies) == len(CTGOV_TABLE), "the recordings hold fewer plain studies than the table has rows"
    for study, (_, mutate, *_) in zip(studies, CTGOV_TABLE):
        mutate(study)
    untouched = copy.deepcopy(real_studies()[-2:])
    fake_ctgov.set_studies(studies + untouched)
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    result = invoke(env, "update", "--source", "ctgov")
    total = len(studies) + len(untouched)
    assert result.exit_code == 0 and f"fetched {total}, new {total}" in result.output, result.output  # the line succeeds whole
    for study, (case, _, column, expected, warning) in zip(studies, CTGOV_TABLE):
        nct = study["protocolSection"]["identificationModule"]["nctId"]
        assert rows(env["TRACKER_DB"], f"SELECT {column} FROM trials WHERE nct_id = ?", nct) == [(expected,)], case
        said = [line for line in result.output.splitlines() if line.startswith(f"WARNING: {nct}: ")]
        assert len(said) == 1 and warning in said[0], (case, said)  # one warning, naming the study, the field, what came
        payload = json.loads(rows(env["TRACKER_DB"], "SELECT raw_json FROM trials WHERE nct_id = ?", nct)[0][0])
        assert payload == study, case  # the payload keeps what came
    assert "{'value'" not in invoke(env, "show", studies[8]["protocolSection"]["identificationModule"]["nctId"]).output  # never a repr
    note = digest_md(env, "2026-12-04T07:00:00Z")
    assert f"ClinicalTrials.gov: {len(CTGOV_TABLE)} records had fields in an unexpected form (" in note
    assert "the update's log names each record and field" in note.replace("\\", "")


def test_a_drifted_record_met_by_two_lines_is_said_once_and_noted_for_both(env, settings, fake_ctgov):
    study = copy.deepcopy(_plain_studies()[0])
    study["hasResults"] = "false"
    fake_ctgov.set_studies([study])
    write_query(settings.queries_dir, "one", ctgov={"query.cond": "alopecia"})
    write_query(settings.queries_dir, "two", ctgov={"query.term": "hair"})
    result = invoke(env, "update", "--source", "ctgov")
    assert result.exit_code == 0 and result.output.count("hasResults came as") == 1, result.output
    drift = [json.loads(d) for (d,) in rows(env["TRACKER_DB"], "SELECT drift FROM runs WHERE source = 'ctgov' ORDER BY id")]
    nct = study["protocolSection"]["identificationModule"]["nctId"]
    assert [d["named"] for d in drift] == [[nct], [nct]] and drift[0]["fields"] == ["hasResults"]
    assert "ClinicalTrials.gov: 1 record had fields in an unexpected form (hasResults)" in digest_md(env, "2026-12-04T07:00:00Z")
    again = invoke({**env, "TRACKER_NOW": "2026-12-05T06:00:00Z"}, "update", "--source", "ctgov", "--full")
    assert again.output.count("hasResults came as") == 1  # said again in the next run: each run says what it met


def test_a_run_without_drift_leaves_no_note(env, settings, fake_ctgov):
    fake_ctgov.set_studies(copy.deepcopy(real_studies()))
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    result = invoke(env, "update", "--source", "ctgov")
    assert result.exit_code == 0 and "came as" not in result.output, result.output
    assert rows(env["TRACKER_DB"], "SELECT count(*) FROM runs WHERE drift IS NOT NULL") == [(0,)]
    assert "unexpected form" not in digest_md(env, "2026-12-04T07:00:00Z")


# -- EU CTIS --------------------------------------------------------------------------------------

CTIS_TABLE = [  # (field, value, column, stored, warning)
    ("totalNumberEnrolled", {"n": 64}, "enrollment", None, 'totalNumberEnrolled came as {"n": 64}, not a count; read as absent'),
    ("totalNumberEnrolled", "99999999999999999999999", "enrollment", None, "past what can be stored"),
    ("startDateEU", "31/02/2025", "start_date", None, 'startDateEU came as "31/02/2025", not a date that exists; read as absent'),
    ("lastUpdated", 20250101, "last_update_posted_date", "2025-01-01", "lastUpdated came as 20250101"),
    ("ctTitle", ["A", "B"], "title", None, 'ctTitle came as ["A", "B"], not in its documented form'),
    ("trialCountries", "Spain:3", "countries", '["Spain"]', 'trialCountries came as "Spain:3", one text where a list is documented'),
    ("resultsFirstReceived", "Perhaps", "has_results", 0, 'resultsFirstReceived came as "Perhaps", not true/false; read as absent'),
]


def test_ctis_fields_that_drift_are_read_faithfully_or_kept_absent_each_said(env, settings, fake_ctis):
    _ctis(fake_ctis)
    plain = [o for o in fake_ctis.overviews if o["ctNumber"] not in fake_ctis.full][:len(CTIS_TABLE)]
    assert len(plain) == len(CTIS_TABLE)
    for overview, (name, value, *_) in zip(plain, CTIS_TABLE):
        overview[name] = value
    write_query(settings.queries_dir, "eu", ctis={"containAll": "trial"})
    result = invoke(env, "update", "--source", "ctis")
    assert result.exit_code == 0 and f"fetched {len(fake_ctis.overviews)}, new {len(fake_ctis.overviews)}" in result.output, result.output
    for overview, (name, _, column, stored, warning) in zip(plain, CTIS_TABLE):
        got = rows(env["TRACKER_DB"], f"SELECT {column} FROM ctis_trials WHERE trial_id = ?", overview["ctNumber"])
        assert got == [(stored,)], name
        said = [line for line in result.output.splitlines() if line.startswith(f"WARNING: {overview['ctNumber']}: ")]
        assert len(said) == 1 and warning in said[0], (name, said)
    assert "EU CTIS: 7 records had fields in an unexpected form" in digest_md(env, "2026-12-04T07:00:00Z")


# -- ISRCTN ---------------------------------------------------------------------------------------

ISRCTN_TABLE = [  # (element, text, column, stored, warning)
    ("target_size", "99999999999999999999999", "enrollment", None, "target_size came as 99999999999999999999999, past what can be stored"),
    ("date_enrolment", "2025-13-01", "start_date", None, 'date_enrolment came as "2025-13-01", not a date that exists; read as absent'),
    ("date_registration", "30/02/2020", "first_posted_date", None, 'date_registration came as "30/02/2020", not a date that exists'),
]


def _xml_with(trial: str, element: str, value: str) -> str:
    found = re.search(rf"<{element}>.*?</{element}>|<{element}/>", trial, flags=re.DOTALL)
    assert found, element
    return trial[:found.start()] + f"<{element}>{value}</{element}>" + trial[found.end():]


def test_isrctn_fields_that_drift_are_kept_absent_each_said(env, settings, fake_isrctn):
    _isrctn(fake_isrctn)
    ids = []
    for i, (element, value, *_) in enumerate(ISRCTN_TABLE):
        fake_isrctn.trials[i] = _xml_with(fake_isrctn.trials[i], element, value)
        ids.append(re.search(r"<trial_id>(.*?)</trial_id>", fake_isrctn.trials[i]).group(1).strip())
    write_query(settings.queries_dir, "uk", isrctn={"q": "cancer"})
    result = invoke(env, "update", "--source", "isrctn")
    assert result.exit_code == 0 and "fetched 4, new 4" in result.output, result.output
    for trial_id, (element, _, column, stored, warning) in zip(ids, ISRCTN_TABLE):
        assert rows(env["TRACKER_DB"], f"SELECT {column} FROM isrctn_trials WHERE trial_id = ?", trial_id) == [(stored,)], element
        said = [line for line in result.output.splitlines() if line.startswith(f"WARNING: {trial_id}: ")]
        assert len(said) == 1 and warning.replace("99999999999999999999999", '"99999999999999999999999"') in said[0], (element, said)


# -- WHO ICTRP exports ----------------------------------------------------------------------------

def test_an_ictrp_export_with_impossible_dates_imports_the_rest_and_says_which(env, settings, tmp_path):
    text = fixture_path(*ICTRP_EXPORT).read_text(encoding="utf-8")
    first = re.search(r"<TrialID>\s*(.*?)\s*</TrialID>", text).group(1)
    trial = re.search(r"<Trial>.*?</Trial>", text, flags=re.DOTALL)
    edited = re.sub(r"<Date_registration3>.*?</Date_registration3>", "<Date_registration3>20190431</Date_registration3>", trial.group(0),
                    count=1, flags=re.DOTALL)
    edited = re.sub(r"<Target_size>.*?</Target_size>", "<Target_size>123456789012345678901234</Target_size>", edited, count=1, flags=re.DOTALL)
    export = tmp_path / "export.xml"
    export.write_text(text[:trial.start()] + edited + text[trial.end():], encoding="utf-8")
    write_query(settings.queries_dir, "who", ctgov={"query.cond": "alopecia"})
    result = invoke(env, "import", "ictrp", str(export))
    assert result.exit_code == 0 and "90 trials" in result.output, result.output
    said = [line for line in result.output.splitlines() if line.startswith(f"WARNING: {first}: ")]
    assert any('Date_registration3 came as "20190431", not a date that exists' in s for s in said), said
    assert any("Target_size came as" in s and "past what can be stored" in s for s in said), said
    stored = rows(env["TRACKER_DB"], "SELECT first_posted_date, enrollment FROM ictrp_trials WHERE trial_id = ?", first)
    assert stored == [("2024-04-08", None)]  # the registration date read from the field that still holds one


# -- Europe PMC -----------------------------------------------------------------------------------

EUROPEPMC_TABLE = [  # (field, value, column, stored, warning)
    ("pubYear", "twenty", "pub_year", None, 'pubYear came as "twenty", not a count'),
    ("firstPublicationDate", "2024-02-30", "sort_date", None, 'firstPublicationDate came as "2024-02-30", not a date that exists'),
    ("title", {"text": "A"}, "title", None, 'title came as {"text": "A"}, not in its documented form; read as absent'),
    ("pubYear", 2020, "pub_year", 2020, "pubYear came as 2020"),
]


def test_europepmc_fields_that_drift_are_read_faithfully_or_kept_absent_each_said(env, settings, fake_europepmc):
    from .conftest import real_europepmc_pages

    records = copy.deepcopy(real_europepmc_pages()[0]["resultList"]["result"][:10])
    for record, (name, value, *_) in zip(records, EUROPEPMC_TABLE):
        record[name] = value
    fake_europepmc.records = records
    write_query(settings.queries_dir, "all", europepmc={"query": "cancer"})
    result = invoke(env, "update", "--source", "europepmc")
    assert result.exit_code == 0 and "fetched 10, new 10" in result.output, result.output
    for record, (name, _, column, stored, warning) in zip(records, EUROPEPMC_TABLE):
        epmc = f"{record['source']}:{record['id']}"
        assert rows(env["TRACKER_DB"], f"SELECT {column} FROM europepmc_works WHERE epmc_id = ?", epmc) == [(stored,)], name
        said = [line for line in result.output.splitlines() if line.startswith(f"WARNING: {epmc}: ")]
        assert len(said) == 1, result.output
        assert warning in said[0], (name, said)


# -- PubMed ---------------------------------------------------------------------------------------

PUBMED_TABLE = [  # (what, pattern, replacement, column, stored, warning)
    ("a month that does not exist", r"(<PubDate>\s*<Year>\d{4}</Year>)(\s*<Month>[^<]*</Month>)?", r"\1<Month>13</Month>", "sort_date", None,
     "PubDate came as"),
    ("a day that does not exist", r"<ArticleDate DateType=\"Electronic\">.*?</ArticleDate>",
     '<ArticleDate DateType="Electronic"><Year>2024</Year><Month>02</Month><Day>31</Day></ArticleDate>', "article_date", None,
     'ArticleDate came as {"Year": "2024", "Month": "02", "Day": "31"}, not a date that exists; read as absent'),
]


def test_pubmed_dates_that_do_not_exist_are_kept_absent_each_said(env, settings, fake_pubmed):
    articles = real_articles()
    mutated = []
    for what, pattern, replacement, *_ in PUBMED_TABLE:
        article = next(a for a in articles if re.search(pattern, a, flags=re.DOTALL) and a not in mutated)
        mutated.append(article)
    edited = [re.sub(pattern, replacement, a, count=1, flags=re.DOTALL) for a, (_, pattern, replacement, *_) in zip(mutated, PUBMED_TABLE)]
    fake_pubmed.articles = edited + [a for a in articles[:5] if a not in mutated]
    write_query(settings.queries_dir, "line", pubmed="stem cells")
    result = invoke(env, "update", "--source", "pubmed")
    total = len(fake_pubmed.articles)
    assert result.exit_code == 0 and f"fetched {total}, new {total}" in result.output, result.output
    for article, (what, _, _, column, stored, warning) in zip(edited, PUBMED_TABLE):
        pmid = re.search(r"<PMID[^>]*>(\d+)</PMID>", article).group(1)
        assert rows(env["TRACKER_DB"], f"SELECT {column} FROM publications WHERE pmid = ?", pmid) == [(stored,)], what
        said = [line for line in result.output.splitlines() if line.startswith(f"WARNING: {pmid}: ")]
        assert len(said) == 1 and warning in said[0], (what, said)


# -- the recordings ---------------------------------------------------------------------------------

def test_every_recording_reads_without_drift(caplog):
    """The parsers' documented forms are the services' real forms: nothing in a recording is said to have drifted."""
    from tracker.sources.ctgov.api import parse_study
    from tracker.sources.ctis.api import parse_trial
    from tracker.sources.europepmc.api import parse_result
    from tracker.sources.fields import watching
    from tracker.sources.ictrp.export import parse_export
    from tracker.sources.isrctn.api import parse_who
    from tracker.sources.pubmed import parse_pubmed_xml

    from .conftest import real_ctis_overviews, real_europepmc_pages, real_europepmc_preprint
    from .test_pubmed import efetch_files

    with watching() as drift:
        read = [parse_study(s) for s in real_studies()]
        full = load_json("ctis", "kimmingul-ctreg", "retrieve.json")
        read += [parse_trial(o, {}) for o in real_ctis_overviews()] + [parse_trial({"ctNumber": full["ctNumber"]}, full)]
        read += parse_who(fixture_path("isrctn", "kimmingul-ctreg", "search-who.xml").read_bytes())
        read += parse_export(fixture_path(*ICTRP_EXPORT).read_bytes())
        read += [parse_result(r) for p in real_europepmc_pages() for r in p["resultList"]["result"]] + [parse_result(real_europepmc_preprint())]
        for path in efetch_files():
            read += parse_pubmed_xml(path.read_bytes())
    assert len(read) > 1300
    assert drift.found == {}, list(drift.found.items())[:5]
