"""Europe PMC: cursorMark paging over the ten recorded pages, the first-index window, preprints stored and read as
preprints everywhere, a preprint and its journal version as one work (and the journal version arriving as news),
full-text trial mentions as links with their section, faults (the contract test: tests/test_sources_contract.py).

The service is the local fake (tests/fakes.py) serving REAL recordings (fixtures/europepmc). HAND-MADE, where no
recording has the case: the last page after the ten recorded ones (in the fake), the journal record of PMID
32678530 (a recorded core MED record given that PMID and title), the preprint as it was before Europe PMC linked its
journal version (the recorded preprint without its commentCorrectionList), and the annotations naming trial ids
(the recorded annotations answers name only ENA, BioProject and RRID accessions)."""

from __future__ import annotations

import copy
import json
from urllib.parse import unquote

import rispy

from .conftest import digest_md, invoke_cli, load_json, real_europepmc_pages, real_europepmc_preprint, rows, write_query

FIRST = "2026-12-04T06:00:00Z"
LATER = "2026-12-11T06:00:00Z"
PREPRINT = "PPR:PPR179288"
JOURNAL = "MED:32678530"


def invoke(env, *args):
    return invoke_cli(env, *args, default_now=FIRST)


def journal_record() -> dict:
    """HAND-MADE: the journal version of the recorded preprint, made from a recorded core MED record."""
    record = copy.deepcopy(load_json("europepmc", "pyeuropepmc", "search_cancer_core.json")["resultList"]["result"][0])
    record.update(id="32678530", pmid="32678530", doi="10.1056/nejmoa2021436", firstIndexDate="2020-07-18",
                  title="Dexamethasone in Hospitalized Patients with Covid-19.", firstPublicationDate="2020-07-17")
    record.pop("pmcid", None)
    return record


def mentions() -> dict:
    """HAND-MADE: the Annotations API's answer for the preprint, in the recorded answers' shape, naming two trials."""
    def annotation(nct: str, section: str) -> dict:
        return {"exact": f"{nct})", "tags": [{"name": nct, "uri": f"http://identifiers.org/clinicaltrials/{nct}"}],
                "type": "Accession Numbers", "section": section, "provider": "Europe PMC", "subType": "NCT"}
    return {"source": "PPR", "extId": "PPR179288", "annotations": [
        annotation("NCT04381936", "Methods (http://purl.org/orb/Methods)"),
        annotation("NCT04381936", "Abstract (http://purl.org/dc/terms/abstract)"),
        annotation("NCT04330690", "Table (http://purl.org/orb/Table)")]}


def test_paging_follows_the_ten_recorded_cursor_pages_to_the_end(env, settings, fake_europepmc):
    pages = real_europepmc_pages()
    fake_europepmc.recorded_pages = pages
    write_query(settings.queries_dir, "all", europepmc={"query": "cancer"})
    result = invoke(env, "update", "--source", "europepmc")
    assert result.exit_code == 0, result.output
    sent = [r["cursorMark"] for r in fake_europepmc.requests if "cursorMark" in r]
    assert sent[:10] == [unquote(p["request"]["cursorMark"]) for p in pages]  # each page's cursor, in order
    assert sent[10] == pages[-1]["nextCursorMark"] and len(sent) == 11  # then the last page (its cursor echoed) ends it
    ids = {f"{r['source']}:{r['id']}" for p in pages for r in p["resultList"]["result"]}
    assert rows(env["TRACKER_DB"], "SELECT count(*) FROM europepmc_works") == [(len(ids),)]
    preprints = rows(env["TRACKER_DB"], "SELECT preprint_server, count(*) FROM europepmc_works WHERE is_preprint = 1 GROUP BY 1 ORDER BY 1")
    assert sum(n for _, n in preprints) == 24 and {s for s, _ in preprints} <= {"medRxiv", "bioRxiv", "Research Square", "Preprints.org"}
    # the 23 records with text-mined NCT numbers were asked of the Annotations API, 8 at a time
    assert len(fake_europepmc.annotation_requests) >= 23


def test_a_second_run_asks_only_the_first_index_window_and_refetches_nothing(env, settings, fake_europepmc):
    fake_europepmc.records = real_europepmc_pages()[0]["resultList"]["result"] + [real_europepmc_preprint()]
    fake_europepmc.annotations = {PREPRINT: mentions()}
    write_query(settings.queries_dir, "all", europepmc={"query": "cancer"})
    assert invoke(env, "update").exit_code == 0
    asked = len(fake_europepmc.annotation_requests)
    fake_europepmc.requests.clear()
    again = invoke({**env, "TRACKER_NOW": "2026-12-05T06:00:00Z"}, "update")
    assert again.exit_code == 0, again.output
    assert "all [Europe PMC]: fetched 0, new 0, changed 0" in again.output
    assert [r["query"] for r in fake_europepmc.requests] == ["(cancer) AND FIRST_IDATE:[2026-12-01 TO 2026-12-05]"]
    assert len(fake_europepmc.annotation_requests) == asked  # nothing annotated twice


def test_preprints_are_stored_and_read_as_preprints_everywhere(env, settings, fake_europepmc):
    fake_europepmc.records = [real_europepmc_preprint()]
    write_query(settings.queries_dir, "covid", europepmc={"query": "dexamethasone"})
    assert invoke(env, "update").exit_code == 0
    assert rows(env["TRACKER_DB"], "SELECT is_preprint, preprint_server, sort_date, doi FROM europepmc_works") == [
        (1, "medRxiv", "2020-06-22", "10.1101/2020.06.22.20137273")]
    md = digest_md(env, "2026-12-04T07:00:00Z")
    assert "**PREPRINT, not peer reviewed (medRxiv).** **[Effect of Dexamethasone" in md
    assert "[PPR179288](https://europepmc.org/article/PPR/PPR179288)" in md
    [hit] = json.loads(invoke(env, "search", "dexamethasone", "--json").output)
    assert hit["detail"].startswith("PREPRINT, not peer reviewed (medRxiv)") and hit["is_preprint"] is True
    shown = invoke(env, "show", "PPR179288")
    assert shown.exit_code == 0 and "preprint_server              medRxiv" in shown.output
    [entry] = rispy.loads(invoke(env, "export", "europepmc_works", "--format", "ris").output)
    assert entry["type_of_reference"] == "UNPB" and "Preprint, not peer reviewed" in entry["notes"]
    bib = invoke(env, "export", "europepmc_works", "--format", "bibtex").output
    assert bib.startswith("@misc{PPRPPR179288,") and "howpublished = {medRxiv}" in bib


def test_a_preprint_and_its_journal_version_are_one_work(env, settings, fake_europepmc):
    fake_europepmc.records = [real_europepmc_preprint(), journal_record()]
    write_query(settings.queries_dir, "covid", europepmc={"query": "dexamethasone"})
    assert invoke(env, "update").exit_code == 0
    shown = json.loads(invoke(env, "show", "PPR179288", "--json").output)
    assert (shown["source"], shown["id"]) == ("europepmc", JOURNAL)  # the journal article, whichever id was asked
    assert [(m["id"], m["tied_by"]) for m in shown["same"]] == [(PREPRINT, "PubMed 32678530")]
    assert "preprint (medRxiv), not peer reviewed, posted 22 Jun 2020" == shown["same"][0]["status"]
    md = digest_md(env, "2026-12-04T07:00:00Z")
    assert md.count("Dexamethasone") == 1 and "Effect of Dexamethasone" not in md  # the journal article once; the preprint only as its version
    assert "Earlier preprint: Europe PMC [PPR179288](https://europepmc.org/article/PPR/PPR179288), preprint (medRxiv), not peer reviewed, posted 22 Jun 2020" in md
    hits = json.loads(invoke(env, "search", "dexamethasone", "--json").output)
    assert [h["id"] for h in hits] == [JOURNAL] and hits[0]["versions"][0]["id"] == PREPRINT


def test_a_stored_preprint_gaining_its_journal_version_is_news(env, settings, fake_europepmc):
    before = real_europepmc_preprint()
    before.pop("commentCorrectionList")  # HAND-MADE: the record as it was before Europe PMC linked the journal version
    fake_europepmc.records = [before]
    write_query(settings.queries_dir, "covid", europepmc={"query": "dexamethasone"})
    assert invoke(env, "update").exit_code == 0
    digest_md(env, "2026-12-04T07:00:00Z")
    fake_europepmc.records = [real_europepmc_preprint()]
    result = invoke({**env, "TRACKER_NOW": LATER}, "update")  # a week on: the stored preprints are asked again
    assert result.exit_code == 0, result.output
    assert "Europe PMC: asked again for 1 stored record (1 changed)" in result.output
    assert [q for q in (r.get("query") for r in fake_europepmc.requests) if q and "EXT_ID" in q] == ["(EXT_ID:PPR179288 AND SRC:PPR)"]
    md = digest_md(env, "2026-12-11T07:00:00Z")
    assert "Now published in The New England journal of medicine. 2021 Feb;384(8):693-704 (PMID 32678530)" in md


def test_full_text_trial_mentions_become_links_with_their_section(env, settings, fake_europepmc):
    fake_europepmc.records = [real_europepmc_preprint()]
    fake_europepmc.annotations = {PREPRINT: mentions()}
    write_query(settings.queries_dir, "covid", europepmc={"query": "dexamethasone"})
    assert invoke(env, "update").exit_code == 0
    assert fake_europepmc.annotation_requests == [PREPRINT]
    assert rows(env["TRACKER_DB"], "SELECT value, via, detail FROM links WHERE source = 'europepmc' ORDER BY value") == [
        ("NCT04330690", "europepmc_fulltext", "mentions: Table"),
        ("NCT04381936", "europepmc_fulltext", "reports: Methods; Abstract")]
    shown = json.loads(invoke(env, "show", PREPRINT, "--json").output)
    assert {(link["value"], link["detail"]) for link in shown["links"]} == {("NCT04330690", "mentions: Table"), ("NCT04381936", "reports: Methods; Abstract")}
    md = digest_md(env, "2026-12-04T07:00:00Z")
    assert "Linked trials: [NCT04330690](https://clinicaltrials.gov/study/NCT04330690), [NCT04381936]" in md


def test_a_europepmc_line_with_unbalanced_quotes_is_one_clear_line(env, settings):
    write_query(settings.queries_dir, "bad", europepmc={"query": '"stem cell AND alopecia'})
    result = invoke(env, "update")
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "europepmc.query" in result.output


def test_a_full_text_mention_of_a_stored_trial_is_announced_as_a_new_link(env, settings, fake_europepmc, fake_ctgov):
    from .conftest import real_studies

    study = real_studies()[0]
    nct = study["protocolSection"]["identificationModule"]["nctId"]
    fake_ctgov.set_studies([study])
    answer = mentions()
    answer["annotations"][0]["tags"][0]["name"] = nct  # HAND-MADE (as above): the preprint's Methods name the stored trial
    fake_europepmc.records = [real_europepmc_preprint()]
    fake_europepmc.annotations = {PREPRINT: answer}
    write_query(settings.queries_dir, "both", ctgov={"query.cond": "alopecia"}, europepmc={"query": "dexamethasone"})
    assert invoke(env, "update").exit_code == 0
    md = digest_md(env, "2026-12-04T07:00:00Z")
    links = md.split("### New trial-publication links")[1]
    assert f"[{nct}](https://clinicaltrials.gov/study/{nct})" in links
    assert "[PPR179288](https://europepmc.org/article/PPR/PPR179288) (PREPRINT, not peer reviewed)" in links
    assert "(via europepmc_fulltext:reports: Methods)" in links
