"""`python -m bench.parse`: parsing only, on records at real size, against the floors and the peers a user would pick.

PubMed: every distinct PubmedArticle of the current-DTD recordings (reference lists included, no size cap), cycled to
10,000 records with new PMIDs, in efetch batches of 250. Floor: lxml.etree.fromstring of the same bytes. Peers, when
installed (`pip install -e '.[bench]'`): Bio.Entrez.read (its tree only, before any field is read), pubmed_parser's
own loop over a file, metapub one record at a time. CT.gov: pages of 1,000 real studies; floor: json.loads of the
same bytes with the collector paused, as the tracker parses (json.loads with it on is shown beside; lxml builds no
Python object per node, so its floor needs no pause).
Each contestant runs once per round, the order shuffled per round; the median of 5 rounds is reported."""

from __future__ import annotations

import gc
import io
import json
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from . import data
from .data import EFETCH_HEAD, pmid, study_page


N_ARTICLES = 10_000
BATCH = 250
N_STUDIES = 5_000
PAGE = 1_000
ROUNDS = 5


def in_an_update(run: Callable[[], int]) -> Callable[[], int]:
    """A tracker contestant as an update runs it: the collector paused for the whole line (update_line), where a
    parse call alone pauses it per page and the first pass after each walks the page it left alive."""
    from tracker.gc_pause import gc_paused

    def paused() -> int:
        with gc_paused():
            return run()
    return paused


def real_articles() -> list[tuple[str, str]]:
    """Every distinct current-DTD recording at its real size, reference lists included."""
    return data.article_templates(max_size=None)


def article_batches() -> tuple[list[bytes], float]:
    templates = real_articles()
    batches, sizes = [], []
    for start in range(0, N_ARTICLES, BATCH):
        parts = []
        for i in range(start, start + BATCH):
            text, orig = templates[i % len(templates)]
            parts.append(text.replace(f">{orig}</PMID>", f">{pmid(i)}</PMID>", 1))
            sizes.append(len(parts[-1].encode()))
        batches.append((EFETCH_HEAD + "\n".join(parts) + "\n</PubmedArticleSet>\n").encode())
    return batches, statistics.mean(sizes)


def contestants_pubmed(batches: list[bytes], tmp: Path) -> dict[str, Callable[[], int]]:
    import xml.etree.ElementTree as StdET

    from lxml import etree

    from tracker.sources.pubmed import parse_pubmed_xml

    def over(fn: Callable[[bytes], object]) -> Callable[[], int]:
        def run() -> int:
            for body in batches:
                fn(body)
            return N_ARTICLES
        return run

    from tracker.sources.pubmed import articles as pubmed_xml

    old_split = re.compile(rb"<(PubmedArticle|PubmedBookArticle)>.*?</\1>", re.DOTALL)

    def previous_parser(body: bytes) -> None:
        """The tracker before lxml: xml.etree, the collector running, raw records cut by a regex."""
        raw = {}
        for match in old_split.finditer(body):
            found = pubmed_xml.PMID_RE.search(match.group(0))
            if found:
                raw.setdefault(found.group(1).decode(), match.group(0).decode("utf-8", "replace"))
        for element in StdET.fromstring(body):
            if element.tag == "PubmedArticle":
                pubmed_xml.parse_article(element, raw.get((element.findtext("MedlineCitation/PMID") or "").strip(), ""))

    found: dict[str, Callable[[], int]] = {
        "lxml.etree.fromstring (floor)": over(etree.fromstring),
        "xml.etree fromstring": over(StdET.fromstring),
        "xml.etree fromstring, collector paused": in_an_update(over(StdET.fromstring)),  # the peers run as a user runs them; this one also as we run
        "tracker parse_pubmed_xml": in_an_update(over(parse_pubmed_xml)),
        "tracker before (xml.etree + regex split)": over(previous_parser),
    }
    try:
        from Bio import Entrez

        found["Bio.Entrez.read (tree only)"] = over(lambda body: Entrez.read(io.BytesIO(body), validate=False))
    except ImportError:
        pass
    try:
        from pubmed_parser import medline_parser

        def pubmed_parser_run() -> int:
            """parse_medline_xml's own loop (iterparse, parse_article_info, parse_grant_id, clear), on plain XML:
            the library only opens gzip files, and decompression is not parsing."""
            for body in batches:
                n = 0
                for _, element in etree.iterparse(io.BytesIO(body), events=("end",)):
                    if element.tag == "PubmedArticle":
                        res = medline_parser.parse_article_info(element, True, False, True, True)
                        res["grant_ids"] = medline_parser.parse_grant_id(element)
                        element.clear()
                        n += 1
                assert n == BATCH, n
            return N_ARTICLES

        found["pubmed_parser (its own loop on plain XML)"] = pubmed_parser_run
    except ImportError:
        pass
    try:
        import logging

        logging.getLogger("metapub").setLevel(logging.ERROR)
        from metapub import PubMedArticle

        records = [f"<PubmedArticleSet>{m.group(0)}</PubmedArticleSet>" for body in batches for m in data.RECORD_RE.finditer(body.decode())]

        def metapub_run() -> int:
            for record in records:
                PubMedArticle(record)
            return N_ARTICLES

        found["metapub.PubMedArticle, one at a time"] = metapub_run
    except ImportError:
        pass
    return found


def contestants_ctgov(pages: list[bytes]) -> dict[str, Callable[[], int]]:
    from tracker.sources import ctgov

    def parse_only() -> int:
        for body in pages:
            ctgov.parse_json_page(body)
        return N_STUDIES

    def to_trials() -> int:
        for body in pages:
            data = ctgov.parse_json_page(body)
            list(ctgov.parse_page(ctgov.Page(studies=data["studies"], total_count=None, next_page_token=None, raw=data["_raw"])))
        return N_STUDIES

    def plain() -> int:
        for body in pages:
            json.loads(body)
        return N_STUDIES

    # the fastest way: the tracker pauses the collector while it parses, so the floor does too
    return {"json.loads, collector paused (floor)": in_an_update(plain), "json.loads": plain,
            "tracker parse_json_page": in_an_update(parse_only), "tracker parse_json_page + parse_page": in_an_update(to_trials)}


def race(contestants: dict[str, Callable[[], int]]) -> dict[str, float]:
    """ms per record, median over ROUNDS, contestants shuffled every round (the collector collects between runs)."""
    times: dict[str, list[float]] = {name: [] for name in contestants}
    rng = random.Random(7)
    for _ in range(ROUNDS):
        order = list(contestants)
        rng.shuffle(order)
        for name in order:
            gc.collect()
            started = time.perf_counter()
            n = contestants[name]()
            times[name].append((time.perf_counter() - started) * 1000 / n)
    return {name: statistics.median(values) for name, values in times.items()}


def table(title: str, results: dict[str, float], floor: str) -> list[str]:
    base = results[floor]
    lines = [f"{title}", "| parser | ms/record | vs floor |", "|---|---|---|"]
    for name, ms in sorted(results.items(), key=lambda kv: kv[1]):
        lines.append(f"| {name} | {ms:.3f} | {ms / base:.2f}x |")
    return lines


def main() -> None:
    batches, mean_size = article_batches()
    pages = [study_page(start, PAGE, N_STUDIES) for start in range(0, N_STUDIES, PAGE)]
    with tempfile.TemporaryDirectory(prefix="tracker-bench-parse-") as tmp:
        pubmed_results = race(contestants_pubmed(batches, Path(tmp)))
    ctgov_results = race(contestants_ctgov(pages))
    out = table(f"PubMed: {N_ARTICLES:,} records, {len(real_articles())} distinct real articles, mean {mean_size / 1000:.1f} kB, "
                f"batches of {BATCH}, median of {ROUNDS}", pubmed_results, "lxml.etree.fromstring (floor)")
    out += [""] + table(f"ClinicalTrials.gov: {N_STUDIES:,} studies in pages of {PAGE:,}, median of {ROUNDS}", ctgov_results, "json.loads, collector paused (floor)")
    print("\n".join(out))
    print(f"\npython {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
