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
    ('name = "a"\ntitle = "t"\n', "needs a [ctgov] table, a [pubmed] table, or both"),
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
    assert query.ctgov == {"query.cond": "alopecia", "filter.overallStatus": "RECRUITING,COMPLETED"}


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
    assert '"Induced Pluripotent Stem Cells"[MeSH]' in by_name["follicle-neogenesis"].pubmed_term
    # PM6: the Science 2016 line (HFSC ageing and quiescence)
    assert all(t in by_name["hfsc-ageing"].pubmed_term for t in ("COL17A1[tiab]", "Foxc1[tiab]", "quiescen*[tiab]"))
    assert sum(1 for q in queries if q.ctgov) == 6  # CT1, CT2, CT3, CT4, CT5, CT7
    assert sum(1 for q in queries if q.pubmed_term) == 9  # PM1-PM9
    assert by_name["recruiting-now"].ctgov["filter.overallStatus"] == "RECRUITING,NOT_YET_RECRUITING,ENROLLING_BY_INVITATION"


def test_queries_command_lists_the_shipped_lines():
    result = CliRunner().invoke(cli, ["queries", "--queries", str(ROOT / "queries")])
    assert result.exit_code == 0
    assert result.output.splitlines()[-1] == "10 topic lines in " + str(ROOT / "queries") + ", all valid."
