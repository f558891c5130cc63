"""Search, show and export over a store filled from the real recordings; --live against a local server."""

import csv
import dataclasses
import io
import json
import os
from pathlib import Path
import re
from datetime import datetime, timezone

import pytest
import sqlite_utils
from click.testing import CliRunner

from tracker.cli import cli
from tracker.sources import ctgov, pubmed
from tracker.store import open_store, save_records

from .conftest import real_studies
from .fakes import EFETCH_HEAD
from .test_pubmed import real_articles

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


@pytest.fixture
def filled(env, settings):
    """Every real study (line 'trials-line') and every real article (line 'papers-line') stored."""
    store = open_store(settings.db_path)
    studies = [ctgov.parse_study(s) for s in real_studies()]
    pubs = pubmed.parse_pubmed_xml((EFETCH_HEAD + "".join(real_articles()) + "</PubmedArticleSet>").encode())
    with store.transaction():
        save_records(store, "ctgov", studies, query="trials-line", run_id=None, now=NOW)
        save_records(store, "ctgov", studies[:5], query="second-line", run_id=None, now=NOW)
        save_records(store, "pubmed", pubs, query="papers-line", run_id=None, now=NOW)
    store.close()
    return {"env": env, "trials": {t.nct_id: t for t in studies}, "pubs": {p.pmid: p for p in pubs}}


def cli_json(env, *args):
    result = CliRunner().invoke(cli, [*args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_stemming_finds_transplantation_for_transplant(filled):
    hits = cli_json(filled["env"], "search", "transplant", "--source", "publications", "--limit", "50")
    assert hits and all("transplant" in (h["title"] + h["snippet"]).lower() for h in hits)
    assert any("[transplantation]" in h["snippet"].lower() for h in hits)


def test_several_words_without_quotes_are_one_search_text(filled):
    quoted = cli_json(filled["env"], "search", "pancreatic cancer", "--limit", "10")
    assert quoted and cli_json(filled["env"], "search", "pancreatic", "cancer", "--limit", "10") == quoted


def test_snippets_highlight_the_match_and_ranking_puts_title_matches_first(filled):
    hits = cli_json(filled["env"], "search", "pancreatic", "--limit", "10")
    assert len(hits) >= 5
    assert all(re.search(r"\[pancreat\w*\]", h["snippet"], re.IGNORECASE) for h in hits)  # stemmed: pancreatitis too
    trials = cli_json(filled["env"], "search", "pancreatic", "--source", "trials")
    # the only trial with the word in its title outranks those that name it among their conditions
    assert [h["id"] for h in trials][0] == "NCT04523987"
    assert {h["id"] for h in trials} == {"NCT04523987", "NCT00763412", "NCT05431270", "NCT02576665"}
    # a match in a list column reads as a list, not as JSON
    conditions = next(h for h in trials if h["id"] == "NCT00763412")
    assert conditions["snippet"] == "Cystic Fibrosis Related Diabetes; [Pancreatic] Insufficiency"


def test_filters_status_phase_line_dates_and_results(filled):
    env, trials = filled["env"], filled["trials"]
    recruiting = cli_json(env, "search", "study OR trial OR patients", "--raw", "--status", "recruiting", "--limit", "100")
    assert recruiting and {h["status"] for h in recruiting} == {"RECRUITING"} and {h["kind"] for h in recruiting} == {"trial"}
    expected = {n for n, t in trials.items() if t.overall_status == "RECRUITING"}
    assert {h["id"] for h in recruiting} <= expected
    phase3 = cli_json(env, "search", "study OR trial OR patients", "--raw", "--phase", "3", "--limit", "100")
    assert phase3 and all("PHASE3" in h["phases"] for h in phase3)
    with_results = cli_json(env, "search", "study OR trial OR patients", "--raw", "--has-results", "--limit", "100")
    assert with_results and all(trials[h["id"]].has_results for h in with_results)
    second = cli_json(env, "search", "study OR trial OR patients OR effect", "--raw", "--line", "second-line", "--limit", "100")
    assert second and {h["id"] for h in second} <= set(list(trials)[:5])
    recent = cli_json(env, "search", "study OR trial OR patients", "--raw", "--source", "trials", "--since", "2020-01-01", "--limit", "100")
    assert recent and all(trials[h["id"]].start_date >= "2020-01-01" for h in recent)
    old_pubs = cli_json(env, "search", "cell OR cells", "--raw", "--source", "publications", "--until", "2015-01-01", "--limit", "100")
    assert old_pubs and all(h["date"] < "2015-01-01" for h in old_pubs)


@pytest.mark.parametrize("text", ["stem AND", '"', "*", "NEAR(", "a" * 10_000, "", "   ", "OR OR OR", "col:umn", "-", "^stem"])
def test_hostile_text_gets_a_clear_answer_never_a_traceback(filled, text):
    result = CliRunner().invoke(cli, ["search", text], env=filled["env"])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    if not re.search(r"\w", text):
        assert result.exit_code == 1 and result.output.strip() == "Error: nothing to search for: give at least one word or number"
    elif len(text) > 1000:
        assert result.exit_code == 1 and result.output.strip() == "Error: search text is 10,000 characters; the limit is 1,000"
    else:
        assert result.exit_code == 0


@pytest.mark.parametrize("text", ["stem AND", "NEAR(", '"unclosed', "AND OR"])
def test_raw_syntax_errors_are_one_line(filled, text):
    result = CliRunner().invoke(cli, ["search", "--raw", text], env=filled["env"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: not a valid FTS5 expression:")


def test_raw_allows_fts_operators(filled):
    both = cli_json(filled["env"], "search", "--raw", "kidney AND transplant*", "--source", "publications")
    assert both and all(re.search("kidney", h["title"] + h["snippet"], re.I) for h in both)


def test_csv_output_parses_back(filled):
    result = CliRunner().invoke(cli, ["search", "transplant", "--csv"], env=filled["env"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows and set(rows[0]) == {"kind", "id", "date", "title", "detail", "snippet", "url"}
    assert all(r["url"].endswith(r["id"] + "/") or r["url"].endswith(r["id"]) for r in rows)


STARTUP_HEAVY = ("requests", "urllib3", "jinja2", "apscheduler", "asyncio", "Bio", "sqlite_utils", "numpy", "tracker.digest", "tracker.claims",
                 "tracker.update", "tracker.store.migrations")


@pytest.mark.parametrize("args, shown", [(["search", "stem", "cell"], "[stem] [cell]"), (["show", "NCT02552212"], "NCT02552212")])
def test_a_search_or_show_from_the_shell_loads_no_http_client_template_engine_scheduler_entrez_or_sqlite_utils(filled, args, shown):
    """What a person waits for at the shell is mostly imports: these were two thirds of a `tracker search`
    (bench/shell.py). sqlite-utils (and the numpy it imports) is not needed to read a database already current."""
    import subprocess
    import sys

    code = ("import sys\nfrom tracker.cli import cli\n"
            f"try:\n    cli.main({args!r}, standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            f"print('loaded:', ' '.join(m for m in {STARTUP_HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **filled["env"]}, timeout=120)
    assert done.returncode == 0, done.stderr
    *printed, loaded = done.stdout.strip().splitlines()
    assert shown in "\n".join(printed)  # the command did its work
    assert loaded == "loaded:", loaded


def test_show_a_trial_with_changes_links_and_lines(filled, settings):
    store = open_store(settings.db_path)
    study = json.loads(filled["trials"]["NCT02552212"].raw_json)
    study["protocolSection"]["statusModule"]["overallStatus"] = "TERMINATED"
    with store.transaction():
        save_records(store, "ctgov", [ctgov.parse_study(study)], query="trials-line", run_id=7, now=datetime(2026, 11, 25, tzinfo=timezone.utc))
    store.close()
    shown = cli_json(filled["env"], "show", "nct02552212")
    assert shown["kind"] == "trial" and shown["id"] == "NCT02552212"
    assert shown["record"]["overall_status"] == "TERMINATED" and shown["record"]["phases"] == ["PHASE3"]
    assert [(c["field"], c["old_value"], c["new_value"], c["run_id"]) for c in shown["changes"]] == [("overall_status", "COMPLETED", "TERMINATED", 7)]
    assert {(l["pmid"], l["source"], l["reference_type"]) for l in shown["links"]} >= {("35296532", "ctgov_reference", "RESULT")}
    assert [m["query"] for m in shown["lines"]] == ["second-line", "trials-line"]
    assert "raw_json" not in shown["record"]
    text = CliRunner().invoke(cli, ["show", "NCT02552212"], env=filled["env"]).output
    assert "overall_status: COMPLETED -> TERMINATED" in text and "35296532     via ctgov_reference (RESULT)" in text


def test_show_a_publication_by_pmid_and_by_doi(filled):
    by_pmid = cli_json(filled["env"], "show", "29768149")
    by_doi = cli_json(filled["env"], "show", "https://doi.org/10.1056/NEJMoa1715274")
    assert by_pmid == by_doi
    assert by_pmid["record"]["nct_ids"] == ["NCT02149199"]
    assert by_pmid["links"] == [
        {"nct_id": "NCT02149199", "pmid": "29768149", "source": "pubmed_databank", "reference_type": None, "first_seen_at": "2026-11-24T06:00:00Z",
         "title": None, "direction": "names", "scheme": "nct", "value": "NCT02149199", "other_source": None, "other_id": "NCT02149199",
         "via": "pubmed_databank", "detail": None}
    ]


@pytest.mark.parametrize(
    "identifier, message",
    [
        ("NCT99999999", "Error: NCT99999999 is not in the database; try `tracker search --live NCT99999999` or add it to a topic line"),
        ("123", "Error: PMID 123 is not in the database; try `tracker search --live 123`"),
        ("10.1000/none", "Error: no stored publication has DOI 10.1000/none; try `tracker search --live 10.1000/none`"),
        ("NCT123", "Error: 'NCT123' is not an NCT number (NCT12345678), a PMID (digits) or a DOI (10.xxxx/...), nor a PMCID, "
                   "EudraCT, EU CT, ISRCTN, jRCT, UMIN, ChiCTR, IRCT, CTRI, DRKS, ANZCTR or CRiS number"),
        ("<script>", "Error: '<script>' is not an NCT number (NCT12345678), a PMID (digits) or a DOI (10.xxxx/...), nor a PMCID, "
                     "EudraCT, EU CT, ISRCTN, jRCT, UMIN, ChiCTR, IRCT, CTRI, DRKS, ANZCTR or CRiS number"),
    ],
)
def test_show_unknown_or_invalid_ids_get_one_line(filled, identifier, message):
    result = CliRunner().invoke(cli, ["show", identifier], env=filled["env"])
    assert result.exit_code == 1 and result.output.strip() == message


def parse_ris(text):
    records, current = [], None
    for line in text.splitlines():
        if not line.strip():
            continue
        tag, _, value = line.partition("  - ")
        if tag == "TY":
            current = {}
        if tag == "ER":
            records.append(current)
            continue
        current.setdefault(tag, []).append(value)
    return records


def parse_bibtex(text):
    entries = []
    for match in re.finditer(r"@(\w+)\{(\w+),\n(.*?)\n\}\n", text, re.S):
        fields = dict(re.findall(r"^  (\w+) = \{(.*)\},?$", match.group(3), re.M))
        entries.append((match.group(1), match.group(2), fields))
    return entries


def export(env, *args):
    result = CliRunner().invoke(cli, ["export", *args], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_export_trials_csv_and_json_field_by_field(filled):
    env, trials = filled["env"], filled["trials"]
    rows = list(csv.DictReader(io.StringIO(export(env, "trials", "--format", "csv", "--status", "COMPLETED"))))
    expected = sorted(n for n, t in trials.items() if t.overall_status == "COMPLETED")
    assert [r["nct_id"] for r in rows] == expected
    for r in rows:
        t = trials[r["nct_id"]]
        assert (r["title"], r["overall_status"], r["phases"], r["enrollment"]) == (t.title, t.overall_status, "; ".join(t.phases), "" if t.enrollment is None else str(t.enrollment))
    data = json.loads(export(env, "trials", "--format", "json"))
    assert len(data) == len(trials)
    for r in data:
        t = trials[r["nct_id"]]
        assert (r["title"], r["phases"], r["conditions"], bool(r["has_results"]), r["completion_date"]) == (
            t.title, list(t.phases), list(t.conditions), t.has_results, t.completion_date)
        assert "raw_json" not in r


def test_export_publications_ris_and_bibtex_parse_back(filled, tmp_path):
    env, pubs = filled["env"], filled["pubs"]
    out = tmp_path / "out.ris"
    export(env, "publications", "--format", "ris", "--search", "asthma", "-o", str(out))
    records = parse_ris(out.read_text())
    assert records
    for rec in records:
        pmid = rec["M2"][0].removeprefix("PMID: ")
        p = pubs[pmid]
        assert "AN" not in rec  # Zotero would file an accession number under "Loc. in Archive"
        assert rec["TY"] == ["JOUR"] and rec["TI"] == [p.title.removesuffix(".")] and rec.get("AU", []) == list(p.authors)
        assert rec.get("DO") == ([p.doi] if p.doi else None) and rec["PY"] == [p.sort_date[:4]]
        assert rec["UR"] == [f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"]
    nejm = next(r for r in records if r["M2"] == ["PMID: 29768149"])
    assert (nejm["SP"], nejm["EP"], nejm["VL"], nejm["IS"], nejm["J2"]) == (["1865"], ["1876"], ["378"], ["20"], ["N Engl J Med"])
    assert nejm["T2"] == ["The New England Journal of Medicine"]  # NLM's "The New England journal of medicine", title-cased
    entries = parse_bibtex(export(env, "publications", "--format", "bibtex", "--search", "asthma"))
    assert [e[1] for e in entries] == sorted(f"pmid{r['M2'][0][6:]}" for r in records)
    kind, key, fields = next(e for e in entries if e[1] == "pmid29768149")
    assert kind == "article" and fields["year"] == "2018" and fields["doi"] == "10.1056/NEJMoa1715274"
    assert fields["pages"] == "1865--1876" and fields["author"].startswith("O'Byrne, P. M. and FitzGerald, J. M. and")
    assert fields["title"] == "{Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma}"  # the style adds the period
    assert (fields["journal"], fields["shortjournal"]) == ("The New England Journal of Medicine", "N Engl J Med")


def test_reference_manager_exports_round_trip_through_rispy_and_bibtexparser(filled, tmp_path):
    import bibtexparser

    env, pubs = filled["env"], filled["pubs"]
    with_abstracts = sorted(p for p, pub in pubs.items() if pub.abstract)
    assert with_abstracts
    records = ris_by_pmid(export(env, "publications", "--format", "ris"))
    assert set(records) == set(pubs)
    for pmid, pub in pubs.items():
        r = records[pmid]
        assert r["type_of_reference"] == ("BOOK" if pub.is_book else "JOUR")
        assert r["title"] == " ".join(pub.title.split()).removesuffix(".")
        assert r["urls"] == [f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"]
        assert r.get("abstract") == (" ".join(pub.abstract.split()) if pub.abstract else None)
        assert r.get("keywords", []) == list(dict.fromkeys([*pub.mesh_terms, *pub.keywords]))
    library = bibtexparser.loads(export(env, "publications", "--format", "bibtex"))
    entries = {e["ID"]: e for e in library.entries}
    assert set(entries) == {f"pmid{p}" for p in pubs}
    for pmid in with_abstracts:
        e = entries[f"pmid{pmid}"]
        assert e["url"] == f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/" and e["pmid"] == pmid
        assert unlatex(e["abstract"]) == " ".join(pubs[pmid].abstract.split())
    with_comma = [p for p, pub in pubs.items() if any("," in k for k in pub.mesh_terms)]
    assert with_comma  # MeSH has "Receptors, Androgen": a plain comma-joined list would split it in two
    for pmid in with_comma:
        pub = pubs[pmid]
        assert [unlatex(k) for k in biblatex_list(entries[f"pmid{pmid}"]["keywords"])] == list(dict.fromkeys([*pub.mesh_terms, *pub.keywords]))


def ris_by_pmid(text):
    """RIS records by the PMID Zotero reads from M2 ("PMID: 123" into its Extra field); rispy keeps M2 among its unknown tags."""
    import rispy

    records = {}
    for r in rispy.loads(text):
        [line] = [m for m in r["unknown_tag"]["M2"] if m.startswith("PMID: ")]
        records[line.removeprefix("PMID: ")] = r
    return records


def biblatex_list(value):
    """A biblatex list field split as etoolbox splits it: at commas outside braces, an item's outer braces removed."""
    items, depth, current = [], 0, ""
    for c in value:
        if c == "," and depth == 0:
            items.append(current.strip())
            current = ""
            continue
        depth += (c == "{") - (c == "}")
        current += c
    items.append(current.strip())
    return [i[1:-1] if i.startswith("{") and i.endswith("}") else i for i in items if i]


def test_dates_are_as_precise_as_pubmed_gives_them_and_page_ranges_whole(filled):
    import bibtexparser

    env, pubs = filled["env"], filled["pubs"]
    records = ris_by_pmid(export(env, "publications", "--format", "ris"))
    entries = {e["ID"]: e for e in bibtexparser.loads(export(env, "publications", "--format", "bibtex")).entries}
    year_only = [p for p, pub in pubs.items() if pub.pub_date and re.fullmatch(r"\d{4}", pub.pub_date)]
    to_the_day = [p for p, pub in pubs.items() if pub.pub_date and re.fullmatch(r"\d{4} [A-Z][a-z]{2} \d{1,2}", pub.pub_date)]
    abbreviated = [p for p, pub in pubs.items() if pub.pages and re.fullmatch(r"(\d+)-(\d+)", pub.pages)
                   and len(pub.pages.split("-")[1]) < len(pub.pages.split("-")[0])]
    assert year_only and to_the_day and abbreviated
    for pmid in year_only:  # never the invented 1987/01/01 of the sort date
        assert records[pmid]["date"] == pubs[pmid].pub_date and "month" not in entries[f"pmid{pmid}"]
    for pmid in to_the_day:
        year, month, day = pubs[pmid].pub_date.split()
        assert records[pmid]["date"] == f"{year}/{MONTH_NUMBERS[month]:02d}/{int(day):02d}"
        assert entries[f"pmid{pmid}"]["month"] == month.lower()
    for pmid in abbreviated:  # MEDLINE's 217-64 is 217-264
        first, last = pubs[pmid].pages.split("-")
        whole = first[: len(first) - len(last)] + last
        assert entries[f"pmid{pmid}"]["pages"] == f"{first}--{whole}" and records[pmid]["end_page"] == whole


MONTH_NUMBERS = {m: i for i, m in enumerate(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], 1)}


def test_csl_json_of_papers_and_trials_is_read_by_citeproc(filled):
    """CSL-JSON is what Zotero, Pandoc and Mendeley read; citeproc-py (a CSL processor) renders a bibliography from it."""
    from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
    from citeproc.source.json import CiteProcJSON

    env, pubs, trials = filled["env"], filled["pubs"], filled["trials"]
    papers = json.loads(export(env, "publications", "--format", "csljson"))
    registered = json.loads(export(env, "trials", "--format", "csljson"))
    assert {p["id"] for p in papers} == {f"pmid:{p}" for p in pubs} and {t["id"] for t in registered} == set(trials)
    for item in papers:
        pub = pubs[item["PMID"]]
        assert item["title"] == " ".join(pub.title.split()).removesuffix(".") and item.get("DOI") == pub.doi and item["type"] in ("article-journal", "chapter")
        assert item["issued"]["date-parts"][0][0] == int(pub.sort_date[:4]) if pub.sort_date else "issued" not in item
    for item in registered:
        trial = trials[item["id"]]
        assert item["type"] == "webpage" and item["number"] == trial.nct_id and item["URL"] == f"https://clinicaltrials.gov/study/{trial.nct_id}"
    import citeproc
    from pathlib import Path as _Path

    style = CitationStylesStyle(str(next((_Path(citeproc.__file__).parent / "data" / "styles").glob("*.csl"))), validate=False)
    source = CiteProcJSON(papers[:20] + registered[:10])
    bibliography = CitationStylesBibliography(style, source, formatter.plain)
    for item in papers[:20] + registered[:10]:
        bibliography.register(Citation([CitationItem(item["id"])]))
    rendered = [str(entry) for entry in bibliography.bibliography()]
    assert len(rendered) == 30
    assert any(trials[t["id"]].title[:30] in " ".join(rendered) for t in registered[:10])


def test_trials_export_as_ris_registry_records(filled):
    import rispy

    env, trials = filled["env"], filled["trials"]
    records = rispy.loads(export(env, "trials", "--format", "ris"))
    assert {r["accession_number"] for r in records} == set(trials)
    for r in records:
        assert r["type_of_reference"] == "ELEC" and r["name_of_database"] == "ClinicalTrials.gov"


def test_search_says_how_many_it_shows_and_when_more_match(filled):
    env, trials = filled["env"], filled["trials"]
    many = CliRunner().invoke(cli, ["search", "--source", "trials", "--line", "trials-line", "--limit", "3"], env=env)
    assert many.exit_code == 0 and "showing the 3 best matches; more match (--limit N shows more" in many.output, many.output
    few = CliRunner().invoke(cli, ["search", "--source", "trials", "--line", "second-line", "--limit", "50"], env=env)
    assert few.exit_code == 0 and "\n5 matches\n" in "\n" + few.output, few.output  # every match shown: counted
    statuses = {t.overall_status for t in trials.values() if t.overall_status}
    assert not any(f"{s} ·" in many.output + few.output for s in statuses)  # statuses as a person reads them, never the codes
    assert any(f"{s.replace('_', ' ').capitalize()} ·" in few.output for s in statuses), few.output
    as_json = CliRunner().invoke(cli, ["search", "--source", "trials", "--line", "second-line", "--json"], env=env)
    assert len(json.loads(as_json.stdout)) == 5  # --json stays the list alone


def test_show_reads_codes_and_dates_as_a_person_does_and_json_keeps_them(filled):
    env, trials = filled["env"], filled["trials"]
    trial = next(t for t in trials.values() if t.overall_status and t.start_date and len(t.start_date) == 10 and t.phases)
    text = CliRunner().invoke(cli, ["show", trial.nct_id], env=env).output
    status = next(line for line in text.splitlines() if line.strip().startswith("overall_status"))
    assert status.split()[-1] != trial.overall_status and trial.overall_status.replace("_", " ").capitalize() in status
    from tracker.labels import date_label, phase_label

    assert date_label(trial.start_date) in text and phase_label(json.dumps(list(trial.phases))) in text
    record = json.loads(CliRunner().invoke(cli, ["show", trial.nct_id, "--json"], env=env).output)["record"]
    assert (record["overall_status"], record["start_date"]) == (trial.overall_status, trial.start_date)


def test_h_is_help_on_every_command():
    for args in (["-h"], ["export", "-h"], ["doctor", "-h"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0 and "Usage: " in result.output, (args, result.output)


def test_csv_for_excel_carries_a_byte_order_mark_and_crlf(filled, tmp_path):
    out = tmp_path / "trials.csv"
    result = CliRunner().invoke(cli, ["export", "trials", "--excel", "-o", str(out)], env=filled["env"])
    assert result.exit_code == 0, result.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and raw.count(b"\xef\xbb\xbf") == 1
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["nct_id"] for r in rows} == set(filled["trials"]) and "url" in rows[0]
    plain = CliRunner().invoke(cli, ["export", "trials"], env=filled["env"]).output
    assert not plain.startswith("\ufeff")


def unlatex(text: str) -> str:
    """Undo BibTeX's escapes of special characters, as a reference manager displays the field."""
    text = text.replace(r"\textbackslash{}", "\\").replace(r"\textasciitilde{}", "~").replace(r"\textasciicircum{}", "^")
    return re.sub(r"\\([{}%&$#_])", r"\1", text)


def test_export_refuses_formats_and_filters_that_do_not_fit(filled):
    result = CliRunner().invoke(cli, ["export", "trials", "--format", "bibtex"], env=filled["env"])
    assert result.exit_code == 1 and result.output.strip() == "Error: trials can be exported as csv, json, csljson, ris, not bibtex"
    result = CliRunner().invoke(cli, ["export", "publications", "--status", "RECRUITING"], env=filled["env"])
    assert result.exit_code == 1 and result.output.strip() == "Error: --status, --phase and --has-results apply to trials only"


def test_full_text_search_indexes_list_columns_as_plain_text_and_stays_consistent(filled, settings):
    db = sqlite_utils.Database(settings.db_path)
    trial = next(t for t in filled["trials"].values() if len(t.conditions) >= 2)
    row = db.execute("SELECT conditions FROM trials_text WHERE text_rowid = (SELECT rowid FROM trials WHERE nct_id = ?)", [trial.nct_id]).fetchone()
    assert row[0] == "; ".join(trial.conditions)
    word = re.findall(r"\w{4,}", trial.conditions[1])[0]
    snippets = [r[0] for r in db.execute("SELECT snippet(trials_fts, 2, '[', ']', '…', 30) FROM trials_fts WHERE trials_fts MATCH ? "
                                         "AND rowid = (SELECT rowid FROM trials WHERE nct_id = ?)", [f'conditions:"{word}"', trial.nct_id])]
    assert snippets and '["' not in snippets[0] and "; " in snippets[0]
    pub = next(p for p in filled["pubs"].values() if len(p.authors) >= 2)
    assert db.execute("SELECT authors FROM publications_text WHERE text_rowid = (SELECT rowid FROM publications WHERE pmid = ?)",
                      [pub.pmid]).fetchone()[0] == "; ".join(pub.authors)
    # a record saved again with new text, a new record and a deletion keep the index equal to its content view
    rowid = db.execute("SELECT rowid FROM trials WHERE nct_id = ?", [trial.nct_id]).fetchone()[0]
    old_word = next(w for w in re.findall(r"[A-Za-z]{4,}", " ".join(trial.conditions)) if not w.lower().startswith("alopec"))
    def matches(term):
        return [r[0] for r in db.execute("SELECT rowid FROM trials_fts WHERE trials_fts MATCH ?", [term])]
    assert rowid in matches(f'conditions:"{old_word}"')
    edited = dataclasses.replace(trial, conditions=('Alopecia "zzareata"',), raw_json=trial.raw_json + " ")
    fresh = dataclasses.replace(trial, nct_id="NCT09999999", title="Zzfresh follicle study", raw_json=trial.raw_json + "  ")
    store = open_store(settings.db_path)
    with store.transaction():
        save_records(store, "ctgov", [edited, fresh], query="trials-line", run_id=None, now=NOW)
    store.close()
    db.execute("DELETE FROM publications WHERE pmid = ?", [pub.pmid])
    for table in ("trials_fts", "publications_fts"):  # raises when the index and its content view disagree
        db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
    assert matches("zzareata") == [rowid]
    assert rowid not in matches(f'conditions:"{old_word}"')  # the old text left the index with the edit
    assert matches("zzfresh") == [db.execute("SELECT rowid FROM trials WHERE nct_id = 'NCT09999999'").fetchone()[0]]


def test_live_search_asks_both_apis_and_stores_nothing(env, settings, fake_ctgov, fake_pubmed):
    fake_ctgov.set_studies(real_studies()[:7])
    fake_pubmed.articles = real_articles()[:4]
    result = CliRunner().invoke(cli, ["search", "--live", "hair follicle organoid", "--limit", "3"], env=env)
    assert result.exit_code == 0, result.output
    assert "ClinicalTrials.gov: 7 in all; the first 3:" in result.output
    assert "PubMed: 4 in all; the first 3:" in result.output
    assert fake_ctgov.requests[0]["query.term"] == "hair follicle organoid" and fake_ctgov.requests[0]["pageSize"] == "3"

    assert [r["path"] for r in fake_pubmed.requests] == ["esearch", "efetch"]
    assert not (settings.db_path).exists()
    data = json.loads(CliRunner().invoke(cli, ["search", "--live", "x", "--limit", "2", "--json"], env=env).output)
    assert [(d["source"], d["total"], len(d["hits"])) for d in data] == [("ClinicalTrials.gov", 7, 2), ("PubMed", 4, 2)]
    unquoted = CliRunner().invoke(cli, ["search", "--live", "hair", "follicle", "organoid", "--limit", "3"], env=env)
    assert unquoted.exit_code == 0 and fake_ctgov.requests[-1]["query.term"] == "hair follicle organoid"


def test_broad_matches_are_ranked_within_the_most_recent_window_and_said_so(filled, settings, monkeypatch):
    from tracker.store import reads as store_reads
    from tracker.store import RecordFilter, select_search, tiers

    store = open_store(settings.db_path)
    match = '"cell" OR "cells" OR "study"'
    try:
        everything, capped = select_search(store, match, kind="publications", f=RecordFilter(), limit=5, window=10_000)
        assert not capped and len(everything) == 5

        def rowids_of(rows):
            return {r[0] for r in store.db.execute(f"SELECT rowid FROM publications WHERE pmid IN ({','.join('?' * len(rows))})", [r["pmid"] for r in rows])}

        newest_matches = [r[0] for r in store.db.execute("SELECT rowid FROM publications_fts WHERE publications_fts MATCH ? ORDER BY rowid DESC", (match,))]
        last = store.db.execute("SELECT max(rowid) FROM publications").fetchone()[0]
        assert len(newest_matches) > 21 and last - 59 <= newest_matches[20] < last - 29  # what the cases below need
        # more than 20 match: the best of the newest 20 matches, ranked in a tier that holds them (here every record)
        in_tier, capped = select_search(store, match, kind="publications", f=RecordFilter(), limit=5, window=20)
        assert capped == store_reads.Narrowed(20, 20, "matches") and len(in_tier) == 5
        assert rowids_of(in_tier) <= set(newest_matches[:21]) and in_tier != everything
        # filters that leave fewer than `limit` in a window the tier holds: wider windows, as without a tier
        narrow = RecordFilter(until="2010-01-01")
        old_in_tier, capped = select_search(store, match, kind="publications", f=narrow, limit=5, window=20)
        assert not capped and old_in_tier and all(r["sort_date"] < "2010-01-01" for r in old_in_tier)
        # a tier of the newest 60 records holds those 20 matches: the same window, ranked there
        monkeypatch.setattr(tiers, "TIER_ROWS", 60)
        tiers.create(store, "publications", ("title", "abstract", "mesh_terms", "authors"))
        rows, capped = select_search(store, match, kind="publications", f=RecordFilter(), limit=5, window=20)
        assert capped == store_reads.Narrowed(20, 20, "matches") and rowids_of(rows) <= set(newest_matches[:21])
        # a tier of the newest 30 records does not: a common word's best among them, and said so
        monkeypatch.setattr(tiers, "TIER_ROWS", 30)
        tiers.create(store, "publications", ("title", "abstract", "mesh_terms", "authors"))
        newest, capped = select_search(store, match, kind="publications", f=RecordFilter(), limit=5, window=20)
        assert capped == store_reads.Narrowed(20, 30, "records") and len(newest) == 5
        assert all(r >= last - 29 for r in rowids_of(newest))
        # without a tier: the newest window of matches, ranked in the whole index, as the tier of every record ranked it
        for name in tiers.generations("publications"):
            store.db.execute(f"DROP TABLE {name}")
        windowed, capped = select_search(store, match, kind="publications", f=RecordFilter(), limit=5, window=20)
        assert capped == store_reads.Narrowed(20, 20, "matches") and windowed == in_tier
        # filters that leave fewer than `limit` in the window: wider windows, until every match is ranked
        rows, capped = select_search(store, '"cell" OR "cells" OR "study"', kind="publications", f=narrow, limit=5, window=20)
        assert not capped and all(r["sort_date"] < "2010-01-01" for r in rows) and rows == old_in_tier
    finally:
        store.close()
    monkeypatch.setattr(store_reads, "SEARCH_WINDOW", 20)
    monkeypatch.setattr(store_reads, "SEARCH_WINDOW_MIN", 1)
    result = CliRunner().invoke(cli, ["search", "cell OR cells OR study", "--raw", "--source", "publications"], env=filled["env"])
    assert result.exit_code == 0
    assert "note: more than 20 PubMed records match; these are the best of the 20 most recently stored matches." in result.output


@pytest.mark.parametrize("kind,f", [("trials", {}), ("trials", {"status": ("COMPLETED",)}), ("publications", {}), ("publications", {"since": "2015-01-01"})])
def test_ranking_in_two_steps_gives_fts5s_own_order_with_a_snippet_for_each_hit(filled, settings, kind, f):
    from tracker.store import RecordFilter
    from tracker.store.reads import select_search

    match = '"cell" OR "cells" OR "study" OR "patients"'
    with open_store(settings.db_path, create=False) as store:
        got, window = select_search(store, match, kind=kind, f=RecordFilter(**f), limit=15)
        alias, key = ("t", "nct_id") if kind == "trials" else ("p", "pmid")
        extra = {"status": f" AND {alias}.overall_status = 'COMPLETED'", "since": f" AND {alias}.sort_date >= '2015-01-01'"}
        where = "".join(extra[k] for k in f)
        expected = [r[key] for r in store.rows(
            f"SELECT {alias}.{key} FROM {kind}_fts JOIN {kind} {alias} ON {alias}.rowid = {kind}_fts.rowid "
            f"WHERE {kind}_fts MATCH ?{where} ORDER BY {kind}_fts.rank LIMIT 15", (match,))]
    assert window is None and len(expected) >= 5
    assert [r[key] for r in got] == expected
    assert all("[" in (r["snippet"] or "") for r in got)


@pytest.mark.parametrize("command", [["search", "cells"], ["search"], ["export", "trials"], ["signals"]])
def test_a_mistyped_line_is_one_clear_line_naming_the_known_ones(filled, command):
    result = CliRunner().invoke(cli, [*command, "--line", "trials-lin"], env=filled["env"])
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "no topic line named 'trials-lin' in " + filled["env"]["TRACKER_DB"]
        + "; did you mean 'trials-line'? (lines: papers-line, second-line, trials-line)")


def test_search_without_text_lists_a_line_newest_first(filled):
    listed = cli_json(filled["env"], "search", "--line", "second-line", "--source", "trials")
    line = list(filled["trials"].values())[:5]  # the fixture saved the first five studies under second-line
    newest_first = sorted(line, key=lambda t: (t.first_posted_date or t.start_date or "", t.nct_id), reverse=True)
    assert [h["id"] for h in listed] == [t.nct_id for t in newest_first]


def test_output_cut_short_by_its_reader_ends_quietly(filled):
    """`tracker export ... | head -1`: the reader closes the pipe; no 'Error: Broken pipe', no traceback."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "tracker", "export", "publications", "--format", "json"]
    process = subprocess.Popen(command, env={**os.environ, **filled["env"]}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # as head does after its first line
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert first.strip() == b"["
    assert stderr == "" and process.returncode == 141


def test_show_a_trial_lists_its_other_registrations_with_their_registry_pages_and_any_of_them_leads_to_it(filled):
    text = CliRunner().invoke(cli, ["show", "NCT02513394"], env=filled["env"]).output
    assert "Other identifiers:" in text
    assert "  EudraCT                2014-005181-30           https://www.clinicaltrialsregister.eu/ctr-search/search?query=2014-005181-30" in text
    assert "  other identifier       ABCSG 42                 (secondary id)" in text  # a sponsor's code: kept, never matched on
    by_eudract = cli_json(filled["env"], "show", "2014-005181-30")
    assert (by_eudract["source"], by_eudract["id"]) == ("ctgov", "NCT02513394")
    assert [(i["scheme"], i["value"], i["via"]) for i in by_eudract["identifiers"]] == [
        ("nct", "NCT02513394", "own"), ("eudract", "2014-005181-30", "secondary_id"),
        ("other", "ABCSG 42", "secondary_id"), ("other", "BIG 14-03", "secondary_id")]
    assert by_eudract["same"] == []  # no other source holds this study yet


@pytest.mark.parametrize("catalogued, printed", [
    ("The New England journal of medicine", "The New England Journal of Medicine"),
    ("The Journal of investigative dermatology", "The Journal of Investigative Dermatology"),
    ("Stem cell research & therapy", "Stem Cell Research & Therapy"),
    ("eLife", "eLife"),
    ("JAMA dermatology", "JAMA Dermatology"),
    ("Cells", "Cells"),
])
def test_journal_titles_are_printed_in_title_case_keeping_words_already_cased(catalogued, printed):
    from tracker.export import journal_title

    assert journal_title(catalogued) == printed


@pytest.mark.parametrize("width", [60, 140])
def test_show_and_search_fit_the_windows_width_and_show_keeps_every_word(filled, width):
    env, trials = {**filled["env"], "COLUMNS": str(width)}, filled["trials"]
    nct, trial = max(trials.items(), key=lambda kv: len(kv[1].official_title or ""))
    shown = CliRunner().invoke(cli, ["show", nct], env=env)
    assert shown.exit_code == 0, shown.output
    # a line passes the window's edge only by one word no wrap can break (a URL at the end of its row)
    too_wide = [line for line in shown.output.splitlines() if len(line) > width and len(line.rstrip().rsplit(" ", 1)[0].rstrip()) > width]
    assert not too_wide, too_wide[:3]
    assert " ".join(trial.official_title.split()) in " ".join(shown.output.split())  # wrapped, never cut
    found = CliRunner().invoke(cli, ["search", "cell", "--source", "trials", "--limit", "20"], env=env)
    assert found.exit_code == 0, found.output
    rows = [line for line in found.output.splitlines() if line.startswith("trial ")]
    assert rows and all(len(line) <= width for line in rows)
    assert any(line.endswith("…") for line in rows) == any(len(" ".join(t.title.split())) > width - 37 for t in trials.values()
                                                             if t.nct_id in found.output)


def test_shell_completion_completes_commands_and_export_kinds_as_the_readme_says():
    import subprocess
    import sys

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    assert 'eval "$(_TRACKER_COMPLETE=bash_source tracker)"' in readme
    script = Path(sys.executable).parent / "tracker"

    def complete(words, index):
        env = {**os.environ, "COMP_WORDS": words, "COMP_CWORD": str(index), "_TRACKER_COMPLETE": "bash_complete"}
        return subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=60).stdout.split()

    assert complete("tracker sh", 1) == ["plain,show"]
    assert complete("tracker export pu", 2) == ["plain,publications"]
    source = subprocess.run([str(script)], env={**os.environ, "_TRACKER_COMPLETE": "bash_source"}, capture_output=True, text=True, timeout=60)
    assert "complete -o nosort -F _tracker_completion tracker" in source.stdout


def test_pandas_reads_the_excel_csv_of_papers_with_accents_and_a_url_column(filled, tmp_path):
    """pandas is what a spreadsheet user scripts with; Excel's own reading of the BOM is what --excel is for."""
    import pandas
    env, pubs = filled["env"], filled["pubs"]
    out = tmp_path / "papers.csv"
    assert CliRunner().invoke(cli, ["export", "publications", "--excel", "-o", str(out)], env=env).exit_code == 0
    frame = pandas.read_csv(out, dtype=str, keep_default_na=False)  # pandas strips the BOM as Excel does
    assert list(frame.columns)[0] == "pmid" and set(frame["pmid"]) == set(pubs)
    assert all(frame["url"] == "https://pubmed.ncbi.nlm.nih.gov/" + frame["pmid"] + "/")
    accented = next((p for p, pub in pubs.items() if any(ord(c) > 127 for c in " ".join(pub.authors))), None)
    assert accented
    row = frame[frame["pmid"] == accented].iloc[0]
    assert row["authors"] == "; ".join(pubs[accented].authors)  # "Hôpitaux", not "HÃ´pitaux"


def test_merging_the_text_indexes_leaves_fewer_segments_and_the_same_answers(filled, settings):
    """Records written one transaction at a time leave a segment each; save_merged_text_indexes merges them a
    bounded step per call (as each update ends) until a call finds nothing to merge: then every level holds one
    segment, and every search answers as before."""
    from tracker.store import RecordFilter, save_merged_text_indexes, select_search
    from tracker.store.writes import text_indexes

    store = open_store(settings.db_path)
    db = store.db
    try:
        for study in list(filled["trials"].values())[:12]:  # each rewritten in its own transaction: a segment each
            with store.transaction():
                save_records(store, "ctgov", [dataclasses.replace(study, title=study.title + " zzmerge", raw_json=study.raw_json + " ")], query="trials-line", run_id=None, now=NOW)

        def structure():
            """(levels, segments) from the index's structure record (FTS5's format: a 4-byte cookie, then varints)."""
            block = db.execute("SELECT block FROM trials_fts_data WHERE id = 10").fetchone()[0]
            numbers, value, at = [], 0, 4
            while len(numbers) < 2:
                value = (value << 7) | (block[at] & 0x7F)
                if not block[at] & 0x80:
                    numbers.append(value)
                    value = 0
                at += 1
            return tuple(numbers)

        def segments():
            return structure()[1]

        searches = ['"zzmerge"', '"hair" OR "alopecia"', '"cell" "stem"']
        before = [select_search(store, m, kind="trials", f=RecordFilter(), limit=50) for m in searches]
        many = segments()
        assert many > 4
        calls = 0
        while save_merged_text_indexes(store, pages=50):
            calls += 1
            assert calls < 200
        assert calls >= 1 and segments() < many
        assert segments() <= structure()[0]  # one a level at most
        assert [select_search(store, m, kind="trials", f=RecordFilter(), limit=50) for m in searches] == before
        assert before[0][0] and all(r["record_id"] for r in before[0][0])
        for index in text_indexes(store):
            db.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('integrity-check', 1)")
            assert db.execute(f"SELECT v FROM {index}_config WHERE k = 'usermerge'").fetchone()[0] == 2
        assert save_merged_text_indexes(store) == 0  # merged: nothing more to do
    finally:
        store.close()


def test_the_newest_tier_holds_every_row_from_its_first_on_in_two_overlapping_generations(filled, settings, monkeypatch):
    """The newest tier (store/tiers.py; here at most 12 rows searched and at least 6, so the store's 100-odd records
    overflow it) keeps the same text as the whole index for every row from each generation's first on: new rows in
    both generations, a rewrite in each that holds it, the older dropped whole once the younger holds 6 (and begun
    anew as the younger), a deleted row taken out; a common word's matches are ranked in the older alone."""
    from tracker.store import RecordFilter, select_search, tiers
    from tracker.store import reads as store_reads

    monkeypatch.setattr(tiers, "TIER_ROWS", 12)
    monkeypatch.setattr(tiers, "GENERATION_ROWS", 6)
    trials = list(filled["trials"].values())
    columns = "title, official_title, conditions, interventions, lead_sponsor"
    store = open_store(settings.db_path)
    db = store.db

    def held(name):
        """The rowids a generation holds, checked to be every row of the table from its first on, with their text."""
        rows = db.execute(f"SELECT rowid, {columns} FROM {name} ORDER BY rowid").fetchall()
        assert rows == db.execute(f"SELECT text_rowid, {columns} FROM trials_text WHERE text_rowid >= ? ORDER BY text_rowid",
                                  [rows[0][0] if rows else 1 << 62]).fetchall(), name
        return [r[0] for r in rows]

    def save(*records):
        with store.transaction():
            save_records(store, "ctgov", list(records), query="trials-line", run_id=None, now=NOW)

    def fresh(i):
        return dataclasses.replace(trials[i], nct_id=f"NCT0999{i:04d}", title=f"Zzfresh cell trial {i}", raw_json=trials[i].raw_json + " " * (i + 1))

    try:
        with store.transaction():
            tiers.create(store, "trials", tuple(columns.split(", ")))
        assert len(held("trials_newest_a")) == 12 and held("trials_newest_b") == held("trials_newest_a")[6:]
        assert tiers.searched(store, "trials").name == "trials_newest_a"
        [(newest,)] = db.execute("SELECT nct_id FROM trials ORDER BY rowid DESC LIMIT 1").fetchall()
        [(edited_rowid,)] = db.execute("SELECT rowid FROM trials WHERE nct_id = ?", [newest]).fetchall()
        edited = dataclasses.replace(filled["trials"][newest], title="Zzrewritten follicle trial", raw_json=filled["trials"][newest].raw_json + " ")
        save(edited, *(fresh(i) for i in range(5)))
        # b held 6: a, the older, dropped whole and begun anew for the new rows; b, now the older, got them too
        assert len(held("trials_newest_b")) == 11 and len(held("trials_newest_a")) == 5
        assert tiers.searched(store, "trials").name == "trials_newest_b"
        assert [r[0] for r in db.execute("SELECT rowid FROM trials_newest_b WHERE trials_newest_b MATCH 'zzrewritten'")] == [edited_rowid]
        save(*(fresh(i) for i in range(5, 7)))  # a reaches 7 of 6
        assert len(held("trials_newest_b")) == 13 and len(held("trials_newest_a")) == 7
        save(fresh(7))  # b, the older, is dropped whole and begun anew for this one
        assert len(held("trials_newest_a")) == 8 and len(held("trials_newest_b")) == 1
        assert tiers.searched(store, "trials").name == "trials_newest_a"
        assert not any(db.execute(f"SELECT 1 FROM {name} WHERE {name} MATCH 'zzrewritten'").fetchall()
                       for name in tiers.generations("trials"))  # it left with b
        db.execute("DELETE FROM trials WHERE nct_id = 'NCT09990006'")
        assert len(held("trials_newest_a")) == 7  # the deleted row left the tier
        match = '"cell" OR "trial" OR "study"'
        rows, narrowed = select_search(store, match, kind="trials", f=RecordFilter(), limit=3, window=5)
        # more than 5 match, and the searched generation's 7 records hold the newest 5: the best of those, ranked there
        assert narrowed == store_reads.Narrowed(5, 5, "matches")
        start = db.execute("SELECT rowid FROM trials_fts WHERE trials_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET 5", [match]).fetchone()[0]
        assert start >= held("trials_newest_a")[0]
        expected = db.execute("SELECT rowid FROM trials_newest_a WHERE trials_newest_a MATCH ? AND rowid >= ? "
                              "ORDER BY bm25(trials_newest_a) LIMIT 3", [match, start]).fetchall()
        got = [db.execute("SELECT rowid FROM trials WHERE nct_id = ?", [r["record_id"]]).fetchone() for r in rows]
        assert got == expected and all(r["snippet"] for r in rows)
        assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    finally:
        store.close()


def test_a_topics_newest_records_are_scored_with_the_same_word_counts_as_the_older_ones(filled, settings, monkeypatch):
    """A common word's newest matches are ranked in one index (the tier's older generation), so every hit's score
    has the same word counts behind it. Ranked in two generations and merged by score, the newest records, a
    topic's where its words are in every one, got their own small generation's counts: a word in all of them
    scored next to nothing, and the newest records that match best fell below every older hit."""
    from tracker.store import RecordFilter, select_search, tiers

    monkeypatch.setattr(tiers, "TIER_ROWS", 12)
    monkeypatch.setattr(tiers, "GENERATION_ROWS", 6)
    trials = list(filled["trials"].values())
    columns = ("title", "official_title", "conditions", "interventions", "lead_sponsor")
    store = open_store(settings.db_path)
    db = store.db
    try:
        with store.transaction():
            tiers.create(store, "trials", columns)
            # four new trials of one topic, each naming its words in its title: the best matches there are
            save_records(store, "ctgov", [dataclasses.replace(trials[i], nct_id=f"NCT0998{i:04d}", title="Zzstem zzcell trial: zzstem zzcell",
                                                              official_title=None, raw_json=trials[i].raw_json + " " * (i + 1)) for i in range(4)],
                         query="trials-line", run_id=None, now=NOW)
        fresh = {r[0] for r in db.execute("SELECT rowid FROM trials WHERE nct_id LIKE 'NCT0998%'")}
        # older records match "trial" too, so that more match than the window holds
        match = '"zzstem" OR "zzcell" OR "trial"'
        rows, narrowed = select_search(store, match, kind="trials", f=RecordFilter(), limit=4, window=6)
        assert narrowed is not None  # a common word: its newest matches ranked in the tier
        got = [db.execute("SELECT rowid FROM trials WHERE nct_id = ?", [r["record_id"]]).fetchone()[0] for r in rows]
        assert set(got) == fresh, (got, fresh)
    finally:
        store.close()


def test_rows_of_a_ranking_of_more_than_five_hundred_hits_are_read_in_one_statement(filled, settings):
    """--limit 1000 over a large store: the chosen hits go to SQLite as one JSON parameter (a compound SELECT of
    them stopped at SQLite's 500 terms)."""
    from tracker.store import Ranking, select_ranked_rows

    store = open_store(settings.db_path)
    try:
        real = [r[0] for r in store.db.execute("SELECT rowid FROM trials ORDER BY rowid")]
        best = [(rowid, -1.0 - i / 1000, "trials_fts") for i, rowid in enumerate(real)]
        best += [(10_000_000 + i, -0.5, "trials_fts") for i in range(600)]  # no such rows: left out by the join
        rows = select_ranked_rows(store, '"cell" OR "trial" OR "study" OR "patients" OR "the"', Ranking("trials", best, None))
        matched = {r[0] for r in store.db.execute("SELECT rowid FROM trials_fts WHERE trials_fts MATCH ?", ['"cell" OR "trial" OR "study" OR "patients" OR "the"'])}
        assert len(best) > 600 and {r["record_id"] for r in rows} == {
            n for (n,) in store.db.execute(f"SELECT nct_id FROM trials WHERE rowid IN ({','.join(map(str, matched))})")}
        assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    finally:
        store.close()


def test_a_narrowed_search_names_the_source_as_people_name_it(capsys):
    """The note after a common word's search says which source's records were narrowed, by its label, not its table."""
    from tracker.console import print_local_search
    from tracker.search import LocalResult
    from tracker.store import Narrowed

    found = LocalResult(hits=[], windowed=[("ctis_trials", Narrowed(833, 20_000, "records")), ("publications", Narrowed(833, 833, "matches"))])
    print_local_search(found, as_json=False, as_csv=False)
    err = capsys.readouterr().err
    assert "note: more than 833 EU CTIS records match; these are the best of the 20,000 most recently stored EU CTIS records." in err
    assert "note: more than 833 PubMed records match; these are the best of the 833 most recently stored matches." in err
    assert "ctis_trials" not in err
