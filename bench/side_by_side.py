"""`python -m bench.side_by_side`: a full update of five services over a local server, fetched one after another and
side by side, beside each service's own paced time; and the requests each source makes on a no-change run against
the fewest that run could make.

The server is the tests' fakes (tests/fakes.py) serving the REAL recordings, with LATENCY added to every answer;
the client paces each service at the tracker's real defaults (CT.gov, CTIS and ISRCTN 1 request/s, PubMed 3/s
without a key, Europe PMC 2/s). The floor of a run's wall time is its slowest service's own time (the same update
with only that source): a run cannot end before its slowest service has been asked everything. Medians of ROUNDS,
interleaved, in one process."""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

LATENCY = 0.15  # seconds added to every answer: a service's own time to answer, beyond the client's pacing
ROUNDS = 3
LINES = 3
NOW = datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 12, 4, 12, 0, tzinfo=timezone.utc)  # the no-change run: the same day, nothing moved
SOURCES = ("ctgov", "pubmed", "ctis", "isrctn", "europepmc")


def _server():
    from pytest_httpserver import HTTPServer

    from tests.conftest import real_europepmc_pages, real_studies
    from tests.fakes import FakeCtgov, FakeCtis, FakeEuropePmc, FakeIsrctn, FakePubmed
    from tests.test_pubmed import real_articles
    from tests.test_sources_contract import _ctis, _isrctn

    server = HTTPServer(threaded=True)
    server.start()
    fakes = [FakeCtgov(server), FakePubmed(server), FakeCtis(server), FakeIsrctn(server), FakeEuropePmc(server)]
    for fake in fakes:
        fake.install()
        fake.always = lambda request: time.sleep(LATENCY)  # then answered as usual
    ctgov, pubmed, ctis, isrctn, europepmc = fakes
    ctgov.set_studies(real_studies())
    pubmed.articles = real_articles()[:60]
    _ctis(ctis)
    _isrctn(isrctn)
    europepmc.records = real_europepmc_pages()[0]["resultList"]["result"][:60]
    return server, fakes


def _settings(server, root: Path):
    from tracker.settings import Settings

    base = server.url_for("/")
    return Settings(ctgov_url=base + "api/v2", eutils_url=base + "entrez/eutils", ctis_url=base + "ctis", isrctn_url=base + "isrctn",
                    europepmc_url=base + "europepmc/webservices/rest", db_path=root / "tracker.db", reports_dir=root / "reports",
                    queries_dir=root / "queries", backoff_base=0, ncbi_email="bench@example.org")


def _lines(queries: Path) -> None:
    from tests.conftest import write_query

    for i in range(LINES):
        write_query(queries, f"line{i}", ctgov={"query.cond": f"alopecia {i}"}, pubmed=f"stem cells {i}", ctis={"containAll": f"trial {i}"},
                    isrctn={"q": f"hair {i}"}, europepmc={"query": f"hair {i}"})


def _update(settings, sources: tuple[str, ...], *, side_by_side: bool, now: datetime, db: Path) -> tuple[float, int, dict[str, int]]:
    """One update into db: (wall seconds, requests, requests per service)."""
    from tracker.sources import open_client
    from tracker.store import open_store
    from tracker.topics import load_queries
    from tracker.update import run_update

    settings = replace(settings, db_path=db)
    with open_store(db) as store, open_client(settings) as client:
        started = time.perf_counter()
        lines = run_update(store, client, settings, load_queries(settings.queries_dir), sources=sources, now=now, side_by_side=side_by_side)
        took = time.perf_counter() - started
        assert all(line.ok for line in lines), [line.summary() for line in lines if not line.ok]
        return took, client.requests_made, {}


def _per_service(fakes) -> dict[str, int]:
    return {name: len(fake.requests) for name, fake in zip(SOURCES, fakes)}


def main() -> None:
    quick = "--quick" in sys.argv
    rounds = 1 if quick else ROUNDS
    server, fakes = _server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            settings = _settings(server, root)
            _lines(settings.queries_dir)
            times: dict[str, list[float]] = {}
            for r in range(rounds):
                for label, sources, side in [("one after another", SOURCES, False), ("side by side", SOURCES, True),
                                             *((f"{name} alone", (name,), True) for name in SOURCES)]:
                    took, _, _ = _update(settings, sources, side_by_side=side, now=NOW, db=root / f"{r}-{label}.db")
                    times.setdefault(label, []).append(took)
            median = {label: statistics.median(v) for label, v in times.items()}
            alone = {name: median[f"{name} alone"] for name in SOURCES}
            slowest = max(alone, key=alone.get)
            print(f"Full first update, {LINES} lines x 5 services, {LATENCY * 1000:.0f} ms per answer, real pacing; median of {rounds}")
            print("| run | wall s | vs slowest service alone |")
            print("|---|---:|---:|")
            print(f"| {slowest} alone (the floor) | {alone[slowest]:.2f} | 1.00x |")
            for label in ("side by side", "one after another"):
                print(f"| all five, {label} | {median[label]:.2f} | {median[label] / alone[slowest]:.2f}x |")
            print("| each service alone | " + ", ".join(f"{n} {alone[n]:.2f}" for n in SOURCES) + f" | sum {sum(alone.values()) / alone[slowest]:.2f}x |")

            # a no-change run after a first one: the requests each source makes, against the fewest it could make
            db = root / "nochange.db"
            _update(settings, SOURCES, side_by_side=True, now=NOW, db=db)
            for fake in fakes:
                fake.requests.clear()
            took, made, _ = _update(settings, SOURCES, side_by_side=True, now=LATER, db=db)
            counted = _per_service(fakes)
            # PubMed: esearch takes one datetype a request, and a no-change run must ask both what was entered (edat) and
            # what was revised (mdat) in the window; one request a line would need the two date ranges written inside
            # the term, which PubMed's own query parser reads but an E-utilities server need not (printed beside)
            fewest = {"ctgov": LINES, "pubmed": 2 * LINES, "ctis": LINES, "isrctn": LINES, "europepmc": LINES}
            why = {"ctgov": "one /studies page per line",
                   "pubmed": f"one esearch per documented datetype window (edat, mdat) per line; {counted['pubmed'] / LINES:.2f}x one OR-ed term a line",
                   "ctis": "one /search page per line, no /retrieve", "isrctn": "one count (limit=0) per line",
                   "europepmc": "one /search per line"}
            print(f"\nNo-change update after a first one ({LINES} lines, sweeps not due): {took:.2f} s, {made} requests")
            print("| source | requests | fewest possible | ratio |")
            print("|---|---:|---:|---:|")
            for name in SOURCES:
                print(f"| {name} | {counted[name]} | {fewest[name]} ({why[name]}) | {counted[name] / fewest[name]:.2f}x |")
    finally:
        server.stop()
    print(f"\npython {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
