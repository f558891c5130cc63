"""Citation watches: elink answers in their recorded shapes, several anchors in one request, an anchor nobody cites,
an anchor named by a DOI that resolves and one that does not, Europe PMC's citations (a citing preprint), faults on
elink, a second update with no new citer fetching nothing, and what the digest and `show` say.

The fakes answer elink in the recorded eLinkResult shape (fixtures/pubmed/biopython-1.88/elink1.xml) and serve REAL
recorded articles; which article cites which anchor is set by each test (HAND-MADE: no recording links recorded
articles to each other), as is the absent LinkSetDb of an anchor nobody cites."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tracker.sources.pubmed import parse_elink

from .conftest import fixture_path, invoke_cli, real_europepmc_preprint, rows
from .faults import status
from .test_pubmed import real_articles

FIRST = "2026-12-04T06:00:00Z"
DOI = "10.1126/science.aaf1635"
LOST_DOI = "10.9999/no-such-paper"


def invoke(env, *args):
    return invoke_cli(env, *args, default_now=FIRST)


def pmid_of(article: str) -> str:
    import re

    return re.search(r'<PMID Version="\d+">(\d+)</PMID>', article).group(1)


def write_watch(directory: Path, cites: list[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "anchors.toml").write_text(
        'name = "anchors"\ntitle = "Who builds on the anchors"\ncites = ' + json.dumps(cites) + "\n", encoding="utf-8")


def test_elink_answers_are_read_in_every_recorded_shape():
    one = parse_elink(fixture_path("pubmed", "biopython-1.88", "elink1.xml").read_bytes())
    assert list(one) == ["9298984"] and len(one["9298984"]) == 39  # only citedin, of the 7 link names it carries
    merged = parse_elink(fixture_path("pubmed", "biopython-1.88", "elink3.xml").read_bytes())
    assert set(merged) == {"11812492", "11774222"} and merged["11812492"] == merged["11774222"]  # a comma list: one LinkSet
    assert len(parse_elink(fixture_path("pubmed", "biopython-1.88", "elink4.xml").read_bytes())["12242737"]) == 6
    cassette = yaml.safe_load(fixture_path("cassettes", "biocommons-eutils", "test_elink.yaml").read_text(encoding="utf-8"))
    body = cassette["interactions"][0]["response"]["body"]["string"].encode()
    assert parse_elink(body)["1234567"][:2] == ["23843693", "18566123"]


def setup_watch(settings, fake_pubmed, fake_europepmc):
    articles = real_articles()[:8]
    ids = [pmid_of(a) for a in articles]
    anchor, second, silent = ids[0], ids[1], ids[2]
    fake_pubmed.articles = articles
    fake_pubmed.citedin = {anchor: [ids[3], ids[4]], second: [ids[4], ids[5]]}
    fake_pubmed.dois = {DOI: second}
    preprint = real_europepmc_preprint()
    fake_europepmc.records = [preprint]
    fake_europepmc.citations = {anchor: [{"id": preprint["id"], "source": "PPR"}]}
    write_watch(settings.queries_dir, [anchor, silent, f"doi:{DOI}", f"doi:{LOST_DOI}"])
    return ids


def test_a_line_of_anchors_stores_who_cites_them_with_its_channel(env, settings, fake_pubmed, fake_europepmc):
    ids = setup_watch(settings, fake_pubmed, fake_europepmc)
    anchor, second, silent = ids[:3]
    result = invoke(env, "update")
    # the DOI PubMed does not know is said in one line, and the line's other anchors were still updated
    assert result.exit_code == 1, result.output
    assert f"doi:{LOST_DOI} resolves to no PubMed record (the other anchors were updated)" in result.output
    assert "Traceback" not in result.output
    [elink] = [r for r in fake_pubmed.requests if r["path"] == "elink"]
    assert elink["ids"] == [anchor, silent, second] and elink["linkname"] == "pubmed_pubmed_citedin"  # several anchors, one request
    db = env["TRACKER_DB"]
    assert rows(db, "SELECT value, record_id FROM links WHERE via = 'pubmed_cites' ORDER BY value, record_id") == sorted(
        [(anchor, ids[3]), (anchor, ids[4]), (second, ids[4]), (second, ids[5])])
    assert rows(db, "SELECT value, record_id FROM links WHERE via = 'europepmc_cites'") == [(anchor, "PPR:PPR179288")]
    assert rows(db, "SELECT count(*) FROM links WHERE value = ? AND via LIKE '%cites'", silent) == [(0,)]  # an anchor nobody cites
    matched = {r for (r,) in rows(db, "SELECT record_id FROM query_matches WHERE query = 'anchors'")}
    assert {ids[3], ids[4], ids[5], "PPR:PPR179288"} <= matched  # members of the line
    assert rows(db, "SELECT doi, pmid FROM resolved_dois") == [(DOI, second)]
    shown = invoke(env, "show", anchor)
    assert shown.exit_code == 0 and "Cited by 3 stored papers" in shown.output  # two PubMed citers and a preprint
    assert invoke({**env, "TRACKER_NOW": "2026-12-04T07:00:00Z"}, "digest", "--format", "md").exit_code == 0
    text = next(Path(env["TRACKER_REPORTS"]).glob("digest-*.md")).read_text(encoding="utf-8")
    assert f"Cites the line's anchor paper: [PMID {anchor}](https://pubmed.ncbi.nlm.nih.gov/{anchor}/)" in text
    assert f"Cites the line's anchor papers: [PMID {anchor}](https://pubmed.ncbi.nlm.nih.gov/{anchor}/), [PMID {second}]" in text \
        or f"Cites the line's anchor papers: [PMID {second}](https://pubmed.ncbi.nlm.nih.gov/{second}/), [PMID {anchor}]" in text  # ids[4] cites both
    assert "PREPRINT, not peer reviewed (medRxiv)" in text  # the citing preprint Europe PMC found


def test_a_second_update_with_no_new_citer_fetches_nothing(env, settings, fake_pubmed, fake_europepmc):
    setup_watch(settings, fake_pubmed, fake_europepmc)
    invoke(env, "update")
    fake_pubmed.requests.clear()
    fake_europepmc.requests.clear()
    again = invoke({**env, "TRACKER_NOW": "2026-12-05T06:00:00Z"}, "update")
    assert "anchors [PubMed]: FAILED: citation watch (3 anchors, 0 new citations, fetched 0, new 0)" in again.output
    assert "anchors [Europe PMC citations]: 3 anchors, 0 new citations, fetched 0, new 0" in again.output
    assert not [r for r in fake_pubmed.requests if r["path"] == "efetch"]
    assert [r["path"] for r in fake_pubmed.requests if r["path"] != "esearch"] == ["elink"]
    # the resolved DOI is remembered: only the unresolved one is asked again
    assert [r["term"] for r in fake_pubmed.requests if r["path"] == "esearch"] == [f'"{LOST_DOI}"[doi]']
    assert not [r for r in fake_europepmc.requests if "query" in r]  # no Europe PMC record fetched


def test_a_fault_on_elink_is_retried_like_every_request(env, settings, fake_pubmed, fake_europepmc):
    ids = setup_watch(settings, fake_pubmed, fake_europepmc)
    write_watch(settings.queries_dir, [ids[0]])
    def once(request):
        if request.path.endswith("elink.fcgi") and not getattr(fake_pubmed, "_elink_failed", False):
            fake_pubmed._elink_failed = True
            return status(503)(request)
        return None

    fake_pubmed.always = once
    result = invoke(env, "update")
    assert result.exit_code == 0, result.output
    assert len([r for r in fake_pubmed.requests if r["path"] == "elink"]) == 2
    assert len(rows(env["TRACKER_DB"], "SELECT 1 FROM links WHERE via = 'pubmed_cites'")) == 2


def test_cites_must_be_pmids_or_dois(env, settings):
    write_watch(settings.queries_dir, ["Yang 2014"])
    result = invoke(env, "queries")
    assert result.exit_code == 1 and "cites: 'Yang 2014' is neither a PMID (digits) nor a DOI" in result.output
