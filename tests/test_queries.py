from pathlib import Path

import pytest
from click.testing import CliRunner

from tracker.cli import cli
from tracker.errors import ConfigError
from tracker.topics import load_queries

from .conftest import ROOT, write_query

BAD_FILES = [
    ('name = "a"\ntitle = ', "not valid TOML"),
    ('title = "t"\n[pubmed]\nterm = "x"\n', "missing required key 'name'"),
    ('name = "a"\ntitle = "t"\ncolour = "red"\n[pubmed]\nterm = "x"\n', "unknown key 'colour'"),
    ('name = "a"\ntitle = 3\n[pubmed]\nterm = "x"\n', "'title' must be a string, not int"),
    ('name = "A B"\ntitle = "t"\n[pubmed]\nterm = "x"\n', "name 'A B' must be lower-case"),
    ('name = "a"\ntitle = "t"\n', "needs at least one source table ([ctgov], [ctis], [isrctn], [pubmed], [europepmc]) or anchor papers"),
    ('name = "a"\ntitle = "t"\n[europe_pmc]\nquery = "x"\n', "unknown table [europe_pmc] (tables allowed: [ctgov], [ctis], [isrctn], [pubmed], [europepmc])"),
    ('name = "a"\ntitle = "t"\n[ctgov]\n"filter.phase" = "PHASE3"\n', "[ctgov] unknown parameter 'filter.phase'"),
    ('name = "a"\ntitle = "t"\n[ctgov]\n"filter.advanced" = "AREA[Phase]PHASE3"\n', "needs at least one query.* parameter"),
    ('name = "a"\ntitle = "t"\n[pubmed]\nterm = ""\n', "'pubmed.term' is empty"),
    ('name = "a"\ntitle = "t"\n[pubmed]\nterm = "x"\nretmax = 5\n', "[pubmed] unknown key 'retmax'"),
]


@pytest.mark.parametrize("text, problem", BAD_FILES)
def test_a_malformed_query_file_is_named_with_its_problem_and_nothing_runs(tmp_path, text, problem, env, monkeypatch):
    write_query(tmp_path / "q", "fine", pubmed="stem cells")
    bad = tmp_path / "q" / "broken.toml"
    bad.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["update", "--queries", str(tmp_path / "q")], env=env)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {bad}:") and problem in lines[0], result.output
    assert not Path(env["TRACKER_DB"]).exists()


def test_dotted_keys_and_status_lists_are_accepted(tmp_path):
    (tmp_path / "a.toml").write_text(
        'name = "a"\ntitle = "t"\n[ctgov]\nquery.cond = "alopecia"\n"filter.overallStatus" = ["RECRUITING", "COMPLETED"]\n', encoding="utf-8"
    )
    [query] = load_queries(tmp_path)
    assert query.params.get("ctgov") == {"query.cond": "alopecia", "filter.overallStatus": "RECRUITING,COMPLETED"}


def test_duplicate_names_are_refused(tmp_path):
    write_query(tmp_path, "same", pubmed="x", prefix="1-")
    write_query(tmp_path, "same", pubmed="y", prefix="2-")
    with pytest.raises(ConfigError, match="name 'same' is already used"):
        load_queries(tmp_path)


def test_shipped_topic_lines_cover_the_domain_lines_in_order():
    queries = load_queries(ROOT / "queries")
    names = [q.name for q in queries]
    assert names[:4] == ["late-phase-evidence", "follicle-neogenesis", "recruiting-now", "aga-cell-therapy"]
    by_name = {q.name: q for q in queries}
    # PM5: the Nature Communications 2014 line (iPSC-derived folliculogenic epithelial stem cells)
    assert '"Induced Pluripotent Stem Cells"[MeSH]' in by_name["follicle-neogenesis"].params["pubmed"]["term"]
    # PM6: the Science 2016 line (HFSC ageing and quiescence)
    assert all(t in by_name["hfsc-ageing"].params["pubmed"]["term"] for t in ("COL17A1[tiab]", "Foxc1[tiab]", "quiescen*[tiab]"))
    assert sum(1 for q in queries if q.params.get("ctgov")) == 6  # CT1, CT2, CT3, CT4, CT5, CT7
    assert sum(1 for q in queries if "pubmed" in q.params) == 9  # PM1-PM9
    assert by_name["recruiting-now"].params["ctgov"]["filter.overallStatus"] == "RECRUITING,NOT_YET_RECRUITING,ENROLLING_BY_INVITATION"


def test_queries_command_lists_the_shipped_lines():
    result = CliRunner().invoke(cli, ["queries", "--queries", str(ROOT / "queries")])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "10 topic lines in " + str(ROOT / "queries") + ", all valid."


# -- strict local validation: one case per rule, with the whole message ----------------------------

def one_problem(tmp_path, text):
    path = tmp_path / "line.toml"
    path.write_text('name = "a"\ntitle = "t"\n' + text, encoding="utf-8")
    result = CliRunner().invoke(cli, ["queries", "--queries", str(tmp_path)])
    assert result.exit_code == 1
    return result.output.strip().replace(str(path), "FILE")


def test_an_unclosed_parenthesis_in_a_pubmed_term_is_refused_before_anything_runs(tmp_path):
    assert one_problem(tmp_path, '[pubmed]\nterm = "(alopecia AND stem"\n') == (
        "Error: FILE: pubmed.term: a '(' is never closed at position 1 in '(alopecia AND stem' (hint: add the ')' that closes it)")


def test_a_closing_parenthesis_that_closes_nothing_is_refused(tmp_path):
    assert one_problem(tmp_path, '[pubmed]\nterm = "alopecia) AND (stem"\n') == (
        "Error: FILE: pubmed.term: a ')' closes nothing at position 9 in 'alopecia) AND (stem' (hint: remove it or add the '(' it closes)")


def test_an_unclosed_double_quote_is_refused(tmp_path):
    assert one_problem(tmp_path, "[pubmed]\nterm = '\"hair loss AND stem'\n") == (
        "Error: FILE: pubmed.term: a double quote is never closed at position 1 in '\"hair loss AND stem' (hint: close the phrase with a second \")")


def test_parentheses_inside_a_quoted_phrase_are_text():
    from tracker.expressions import check_balanced
    from tracker.sources.ctgov.params import check_ctgov_expression

    check_balanced('"stem cell (adipose)" AND alopecia')
    check_ctgov_expression('"AREA[Nothing] (is text here" OR alopecia')


def test_an_unknown_pubmed_field_tag_is_refused_with_the_known_ones(tmp_path):
    assert one_problem(tmp_path, '[pubmed]\nterm = "alopecia[tiabx] AND stem"\n') == (
        "Error: FILE: pubmed.term: unknown PubMed field tag [tiabx] at position 9 in 'alopecia[tiabx] AND stem' "
        "(hint: use a documented tag such as [tiab], [ti], [MeSH], [Majr], [pt], [ta], [au], [dp])")


def test_long_tags_noexp_and_proximity_are_pubmed_tags(tmp_path):
    text = ('[pubmed]\nterm = \'"Alopecia"[MeSH Terms] OR "Alopecia"[Mesh:NoExp] OR "hair loss stem"[tiab:~3] OR '
            'Randomized Controlled Trial[Publication Type] OR 2020[dp] OR hair[Title/Abstract]\'\n')
    (tmp_path / "ok.toml").write_text('name = "a"\ntitle = "t"\n' + text, encoding="utf-8")
    [query] = load_queries(tmp_path)
    assert query.params["pubmed"]["term"].startswith('"Alopecia"[MeSH Terms]')


def test_an_unknown_search_area_is_refused_with_the_closest_name(tmp_path):
    assert one_problem(tmp_path, '[ctgov]\n"query.cond" = "alopecia"\n"filter.advanced" = "AREA[StudyType]INTERVENTIONAL AND AREA[Phaze]PHASE3"\n') == (
        "Error: FILE: ctgov.filter.advanced: unknown search area AREA[Phaze] at position 35 in "
        "'AREA[StudyType]INTERVENTIONAL AND AREA[Phaze]PHASE3' (hint: did you mean Phase?)")


@pytest.mark.parametrize("expression, value, position, hint", [
    ("AREA[Phase]PHASE5", "PHASE5", 12, "EARLY_PHASE1, PHASE1, PHASE2, PHASE3, PHASE4, NA"),
    ("AREA[Phase](PHASE2 OR PHASE9)", "PHASE9", 23, "EARLY_PHASE1, PHASE1, PHASE2, PHASE3, PHASE4, NA"),
    ("AREA[StudyType]TRIAL", "TRIAL", 16, "INTERVENTIONAL, OBSERVATIONAL, EXPANDED_ACCESS"),
    ("AREA[OverallStatus]OPEN", "OPEN", 20, "ACTIVE_NOT_RECRUITING, COMPLETED"),
])
def test_enum_areas_take_only_their_values(tmp_path, expression, value, position, hint):
    message = one_problem(tmp_path, f'[ctgov]\n"query.cond" = "alopecia"\n"filter.advanced" = "{expression}"\n')
    assert message.startswith(f"Error: FILE: ctgov.filter.advanced: AREA[{expression[5:expression.index(']')]}] does not take {value!r} "
                              f"at position {position} in {expression!r} (hint: one of {hint}")


def test_an_unknown_overall_status_is_refused(tmp_path):
    assert one_problem(tmp_path, '[ctgov]\n"query.cond" = "alopecia"\n"filter.overallStatus" = ["RECRUITING", "OPEN"]\n').startswith(
        "Error: FILE: ctgov.filter.overallStatus: unknown status 'OPEN' at item 2 (hint: one of ACTIVE_NOT_RECRUITING, COMPLETED,")


def test_ctgov_query_parameters_are_checked_too(tmp_path):
    assert one_problem(tmp_path, '[ctgov]\n"query.intr" = \'("stem cell" OR SVF\'\n') == (
        "Error: FILE: ctgov.query.intr: a '(' is never closed at position 1 in '(\"stem cell\" OR SVF' (hint: add the ')' that closes it)")


def test_a_malformed_term_stops_an_update_before_any_request(tmp_path, env, httpserver):
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "bad.toml").write_text('name = "a"\ntitle = "t"\n[pubmed]\nterm = "(alopecia AND stem"\n', encoding="utf-8")
    result = CliRunner().invoke(cli, ["update", "--queries", str(tmp_path / "q")], env=env)
    assert result.exit_code == 1 and "a '(' is never closed at position 1" in result.output
    assert httpserver.log == []


# -- tracker queries --live: counts, PubMed's translation, the services' own messages --------------

def test_queries_live_reports_counts_translation_and_every_message(tmp_path, env, httpserver):
    from werkzeug import Response

    from .conftest import fixture_path

    answers = {
        "good": fixture_path("pubmed", "klortho-eutils-json", "esearch.pubmed.xml").read_bytes(),
        "fleegle": fixture_path("pubmed", "klortho-eutils-json", "esearch.error.xml").read_bytes(),
        "broken": fixture_path("pubmed", "klortho-eutils-json", "esearch.baderror.xml").read_bytes(),
    }
    page = fixture_path("ctgov", "v2", "search", "kylevogeler_sampleResponse_totalCount3787_NCT00711542.json").read_bytes()
    refusal = fixture_path("ctgov", "v2", "errors", "error400_quoted_unknown_param_filter.phase.txt").read_text()
    seen = []

    def esearch(request):
        term = request.form.get("term") or request.args.get("term")
        seen.append(dict(request.form) or dict(request.args))
        return Response(next(body for prefix, body in answers.items() if term.startswith(prefix)), content_type="text/xml")

    def studies(request):
        seen.append(dict(request.args))
        if request.args.get("query.cond") == "refused":
            return Response(refusal, status=400, content_type="text/plain")
        return Response(page, content_type="application/json")

    httpserver.expect_request("/entrez/eutils/esearch.fcgi").respond_with_handler(esearch)
    httpserver.expect_request("/api/v2/studies").respond_with_handler(studies)
    q = tmp_path / "q"
    write_query(q, "a-good", ctgov={"query.cond": "alopecia"}, pubmed="good AND alopecia")
    write_query(q, "b-phrase", pubmed="fleegle[MeSH Terms]")
    write_query(q, "c-refused", ctgov={"query.cond": "refused"})
    write_query(q, "d-error", pubmed="broken")
    result = CliRunner().invoke(cli, ["queries", "--live", "--json", "--queries", str(q)], env=env)
    assert result.exit_code == 1
    out, error = result.output.rsplit("Error: ", 1)
    assert error.strip() == "2 of 4 topic lines erred or found nothing: c-refused, d-error"
    import json

    lines = {line["name"]: line for line in json.loads(out)}
    assert {k: lines["a-good"][k] for k in ("ctgov_count", "pubmed_count", "warnings", "ok")} == {
        "ctgov_count": 3787, "pubmed_count": 15169, "warnings": [], "ok": True}
    assert lines["b-phrase"] == {"name": "b-phrase", "ctgov_count": None, "ctis_count": None, "isrctn_count": None, "pubmed_count": 5163, "europepmc_count": None,
                                 "counts": {"pubmed": 5163}, "translations": {"pubmed": '"obstetrics"[MeSH Terms]'},
                                 "warnings": ["PubMed PhraseNotFound: fleegle[MeSH Terms]"], "errors": [], "ok": True, "sources": ["pubmed"]}
    assert lines["c-refused"]["warnings"] == ["ClinicalTrials.gov rejected the request (HTTP 400): `filter.phase` is unknown parameter"]
    assert (lines["c-refused"]["ctgov_count"], lines["c-refused"]["pubmed_count"], lines["c-refused"]["ok"]) == (None, None, False)
    assert lines["d-error"]["warnings"] == ["PubMed refused the search of line d-error: Invalid db name specified: fleegle; term: broken"]
    # counts only: one record per CT.gov page, no PubMed ids, no history, nothing stored
    assert all(s.get("pageSize") == "1" for s in seen if "query.cond" in s)
    assert all(s.get("retmax") == "0" and "usehistory" not in s for s in seen if "term" in s)
    assert not Path(env["TRACKER_DB"]).exists()


def test_queries_live_as_a_table(tmp_path, env, httpserver):
    from werkzeug import Response

    from .conftest import fixture_path

    httpserver.expect_request("/entrez/eutils/esearch.fcgi").respond_with_response(
        Response(fixture_path("pubmed", "klortho-eutils-json", "esearch.error.xml").read_bytes(), content_type="text/xml"))
    write_query(tmp_path / "q", "phrase", pubmed="fleegle[MeSH Terms]")
    result = CliRunner().invoke(cli, ["queries", "--live", "--queries", str(tmp_path / "q")], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        f"{'line':28} {'PubMed':>9}  notes",  # a column for each source a line asks
        f"{'phrase':28} {'5,163':>9}  PubMed PhraseNotFound: fleegle[MeSH Terms]",
    ]
    assert result.output.splitlines()[-1] == '  "obstetrics"[MeSH Terms]'
