"""`python -m bench [--quick]`: ingest throughput and memory, requests per update, search and digest at full scale.

Every figure is printed beside a baseline measured in the same run (machines here are noisy), as a ratio."""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import scale
from .server import BenchServer
from .shell import shell_search

OUT = Path(__file__).resolve().parent / "out"
SEARCH_PASSES = 6  # this machine's latency moves by half between minutes: one pass warms, five are timed
SEARCHES = [
    ("alopecia", {}), ("stem cell", {}), ("hair follicle", {}), ("transplantation", {}), ("randomized", {}),
    ("mesenchymal stromal", {}), ("adipose derived", {}), ("dermal papilla", {}), ("exosomes", {}), ("quiescence", {}),
    ("alopecia", {"source": "trials", "status": ("RECRUITING",)}), ("stem cell", {"source": "trials", "phase": ("PHASE3",)}),
    ("cancer", {"source": "trials", "status": ("COMPLETED",), "has_results": True}), ("hair", {"line": "line-3"}),
    ("cells", {"source": "publications", "since": "2020-01-01"}), ("therapy", {"source": "trials", "since": "2024-01-01"}),
    ("pancreatic", {}), ("asthma", {"source": "publications"}), ("vaccine", {}), ("children", {"source": "trials", "phase": ("PHASE2",)}),
]


PEERS = {"trials": "requests + sqlite-utils upsert_all + enable_fts", "publications": "Bio.Entrez.read + sqlite-utils upsert_all + enable_fts"}


def child(kind: str, who: str, n: int, url: str) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.ingest", kind, who, str(n), url], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    if out.returncode != 0:
        raise SystemExit(f"bench child failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(kind: str, n: int, url: str, rounds: int) -> dict[str, dict]:
    """Floor, floor + FTS5, floor + FTS5 through WAL and tracker, one after another, `rounds` times; for each, the run
    with the median time (a single run moved by up to 25 % between runs of the same code)."""
    runs: dict[str, list[dict]] = {"floor": [], "floor+fts": [], "floor+wal": [], "tracker": []}
    for _ in range(rounds):
        for who, done in runs.items():
            done.append(child(kind, who, n, url))
    assert all(r["n"] == n for done in runs.values() for r in done), runs
    return {who: sorted(done, key=lambda r: r["seconds"])[len(done) // 2] for who, done in runs.items()}


def ingest(server: BenchServer, sizes: list[int], rounds: int) -> list[list[str]]:
    """Each size's contestants interleaved: `rounds` rounds at the first size, one at larger ones (100,000 PubMed
    records take minutes a run)."""
    rows = []
    for kind in ("trials", "publications"):
        for n in sizes:
            url = server.ctgov_url(n) if kind == "trials" else server.eutils_url(n)
            used = rounds if n == sizes[0] else 1
            median = interleaved(kind, n, url, used)
            floor, indexed, logged, mine = median["floor"], median["floor+fts"], median["floor+wal"], median["tracker"]
            runs = f"median of {used} interleaved runs; " if used > 1 else ""
            rows.append([
                f"ingest {kind}", f"{n:,}", f"{n / floor['seconds']:,.0f} rec/s (floor)", f"{n / mine['seconds']:,.0f} rec/s",
                f"{mine['seconds'] / floor['seconds']:.2f}x", "<= 1.5x",
                f"{runs}peak RSS {mine['max_rss_mb']:.0f} MB (floor {floor['max_rss_mb']:.0f} MB)",
            ])
            rows.append([  # a second reference, never in place of the first: how much of the gap is the search index
                f"ingest {kind}, same FTS5 index", f"{n:,}", f"{n / indexed['seconds']:,.0f} rec/s (floor + FTS5)", f"{n / mine['seconds']:,.0f} rec/s",
                f"{mine['seconds'] / indexed['seconds']:.2f}x", "", f"peak RSS floor + FTS5 {indexed['max_rss_mb']:.0f} MB",
            ])
            rows.append([  # and how much of it is the write-ahead log, which keeps readers unblocked during an update
                f"ingest {kind}, same FTS5 index, through WAL", f"{n:,}", f"{n / logged['seconds']:,.0f} rec/s (floor + FTS5 + WAL)",
                f"{n / mine['seconds']:,.0f} rec/s", f"{mine['seconds'] / logged['seconds']:.2f}x", "",
                f"the log alone: floor + FTS5 + WAL at {logged['seconds'] / indexed['seconds']:.2f}x floor + FTS5",
            ])
            if n == sizes[0]:  # the peer at the first size only: Bio.Entrez would take minutes at 100,000
                peer = child(kind, "peer", n, url)
                assert peer["n"] == n, peer
                rows.append([  # a third reference: the script a user would otherwise write with the project's own packages
                    f"ingest {kind}, peer: {PEERS[kind]}", f"{n:,}", f"{n / peer['seconds']:,.0f} rec/s (peer)", f"{n / mine['seconds']:,.0f} rec/s",
                    f"{mine['seconds'] / peer['seconds']:.2f}x", "", f"peak RSS peer {peer['max_rss_mb']:.0f} MB",
                ])
    return rows


def requests_per_update(server: BenchServer) -> list[list[str]]:
    from tracker.http import HttpClient
    from tracker.models import Query
    from tracker.settings import Settings
    from tracker.store import open_store
    from tracker.update import run_update

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lines = [Query(name=f"l{i}", title="l", description="", params={"ctgov": {"query.term": f"x{i}"}, "pubmed": {"term": f"y{i}"}}) for i in range(3)]
        for changed in (0, 2500):
            db = Path(tmp) / f"r{changed}.db"
            settings = Settings(ctgov_url=server.ctgov_url(3000, changed), eutils_url=server.eutils_url(500, 0), ctgov_rate=0, ncbi_rate=0, db_path=db)
            store = open_store(db)
            with HttpClient(settings) as client:
                run_update(store, client, settings, lines, now=datetime(2026, 11, 23, tzinfo=timezone.utc))
                server.stats(reset=True)
                run_update(store, client, settings, lines, now=datetime(2026, 11, 24, tzinfo=timezone.utc))
            store.close()
            stats = server.stats(reset=True)
            ct = sum(v for k, v in stats.items() if k.startswith("t"))
            pm = sum(v for k, v in stats.items() if k.startswith("p"))
            expected_ct = len(lines) * max(1, math.ceil(changed / 1000))
            rows.append([f"requests, 2nd update, {changed:,} changed", "3 lines", f"{expected_ct} CT.gov (expected)", f"{ct} CT.gov",
                         f"{ct / expected_ct:.2f}x", "1/line, ceil(k/1000)", ""])
            if changed == 0:
                rows.append(["requests, 2nd update, nothing new", "3 lines", f"{2 * len(lines)} PubMed (at most)", f"{pm} PubMed",
                             f"{pm / (2 * len(lines)):.2f}x", "<= 2/line", ""])
                rows.append(sweep_requests(server, settings, store_path=db, lines=lines))
    return rows


def fewest_id_requests(base_url: str, ids: list[str], params: dict[str, str], limit: int) -> int:
    """The fewest /studies requests that name every id in filter.ids with no URL over `limit` bytes, counted on the
    URLs themselves (requests' own encoding), not with the tracker's arithmetic."""
    import requests

    def fits(k: int, start: int) -> bool:
        query = {**params, "filter.ids": ",".join(ids[start:start + k]), "fields": "NCTId", "pageSize": "1000", "format": "json",
                 "countTotal": "true", "pageToken": "x" * 40}  # room for a next-page token, as any client must leave
        return len(requests.Request("GET", base_url.rstrip("/") + "/studies", params=query).prepare().url) <= limit
    n, start = 0, 0
    while start < len(ids):
        lo, hi = 1, len(ids) - start
        while lo < hi:  # the largest batch from `start` that fits
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if fits(mid, start) else (lo, mid - 1)
        start, n = start + lo, n + 1
    return n


def sweep_requests(server: BenchServer, settings, *, store_path: Path, lines) -> list[str]:
    """A forced sweep of the stored trials: once against the registry, once per CT.gov line (no update before it)."""
    from tracker.http import HttpClient
    from tracker.sources.ctgov import MAX_URL
    from tracker.sources import SOURCES
    from tracker.store import open_store, select_trial_ids
    from tracker.sweep import run_sweep

    store = open_store(store_path)
    ids = select_trial_ids(store, "ctgov")
    server.stats(reset=True)
    with HttpClient(settings) as client:
        result = run_sweep(store, client, settings, lines, SOURCES["ctgov"], now=datetime(2026, 11, 25, tzinfo=timezone.utc))
    store.close()
    made = sum(server.stats(reset=True).values())
    fewest = fewest_id_requests(settings.ctgov_url, ids, {}, MAX_URL) + sum(
        fewest_id_requests(settings.ctgov_url, ids, dict(q.params["ctgov"]), MAX_URL) for q in lines)
    assert result.requests == made and not result.removed, (result, made)
    return [f"requests, sweep of {len(ids):,} trials", f"registry + {len(lines)} lines", f"{fewest} CT.gov (fewest {MAX_URL:,}-byte URLs)",
            f"{made} CT.gov", f"{made / fewest:.2f}x", "1.00x", f"{len(ids) * (len(lines) + 1) / made:,.0f} ids per request"]


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def search_and_digest(trials: int, pubs: int, rebuild: bool) -> list[list[str]]:
    import tracker.digest  # noqa: F401  (imported before any clock starts)
    from tracker.search import search_local
    from tracker.store import RecordFilter, open_store

    OUT.mkdir(exist_ok=True)
    # with CTIS, ISRCTN, ICTRP and Europe PMC tables (scale.OTHER_SOURCES), text indexes merged as updates leave them
    path = OUT / f"scale-{trials}-{pubs}-merged.db"
    rows = []
    if rebuild or not path.exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        built = scale.build(path, trials=trials, publications=pubs)
        scale.add_week(path, new_trials=500, changed_trials=300, new_pubs=200)
        others = scale.add_other_sources(path, scale=trials / 600_000)
        merging = scale.merge_as_updates_did(path)
        built["db_mb"] = path.stat().st_size / 1e6
        rows.append(["build: other sources' tables", ", ".join(f"{n:,} {k}" for k, n in others.items()), "", "", "", "", ""])
        rows.append(["build: text indexes merged as updates merge them", f"{merging['updates']} merge steps", "", f"{merging['seconds']:.0f} s", "", "", ""])
        rows.append(["build full-scale database", f"{trials:,} + {pubs:,}", "", f"{built['seconds']:.0f} s", "", "", f"{built['db_mb']:,.0f} MB"])
    else:
        rows.append(["build full-scale database", f"{trials:,} + {pubs:,}", "", "(cached; --rebuild)", "", "", f"{path.stat().st_size / 1e6:,.0f} MB"])
    store = open_store(path)
    conn = store.conn
    from tracker.search import fts_query, searched_tables

    # each query's filter, FTS5 expression and tables, made once and outside every clock
    queries = [(text, opts, f, fts_query(text), searched_tables(opts.get("source", "all"), f))
               for text, opts in SEARCHES for f in [RecordFilter(**{k: v for k, v in opts.items() if k != "source"})]]

    def pass_over(timed: dict[int, dict[str, list[float]]], *, fresh: bool) -> None:
        """Each query as the tracker searches, then its bare MATCH, interleaved. `fresh`: each on a connection of its
        own, its page cache empty (the operating system's warm), as a `tracker search` process reads once started."""
        for number, (text, opts, f, match, tables) in enumerate(queries):
            searching = open_store(path, create=False) if fresh else store  # as `tracker search` opens it
            t0 = time.perf_counter()
            search_local(searching, text, source=opts.get("source", "all"), f=f, limit=20).hits
            t1 = time.perf_counter()
            if fresh:
                searching.close()
            bare = sqlite3.connect(path) if fresh else conn
            t2 = time.perf_counter()
            for table in tables:
                bare.execute(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ? LIMIT 20", (match,)).fetchall()
            t3 = time.perf_counter()
            if fresh:
                bare.close()
            timed[number]["mine"].append((t1 - t0) * 1000)
            timed[number]["base"].append((t3 - t2) * 1000)

    def medians(timed: dict[int, dict[str, list[float]]], what: str) -> dict[bool, list[float]]:
        by_filter: dict[bool, list[float]] = {True: [], False: []}
        for number, (_, opts) in enumerate(SEARCHES):
            by_filter[bool(set(opts) - {"source"})].append(statistics.median(timed[number][what]))
        return by_filter

    def blank() -> dict[int, dict[str, list[float]]]:
        return {i: {"mine": [], "base": []} for i in range(len(SEARCHES))}

    pass_over(blank(), fresh=False)  # warms the operating system's cache and the store's; not counted
    warm, fresh = blank(), blank()
    for _ in range(SEARCH_PASSES - 1):  # each query's median of the passes is its time
        pass_over(warm, fresh=False)
        pass_over(fresh, fresh=True)
    # FTS5's own ranking of every match, in passes of its own: it reads whole doclists (a quarter to two thirds of a
    # second for a common word) and empties the page cache, so timed between the others it made the next search wait
    # on pages a search of its own would have kept (same code, three interleaved runs: p95 15.9-17.2 ms against 11.7-14.1)
    ranked: dict[int, dict[str, list[float]]] = {i: {"ranked": []} for i in range(len(SEARCHES))}
    for _ in range(SEARCH_PASSES - 1):
        for number, (_, _, _, match, tables) in enumerate(queries):
            t0 = time.perf_counter()
            for table in tables:
                conn.execute(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH ? ORDER BY rank LIMIT 20", (match,)).fetchall()
            ranked[number]["ranked"].append((time.perf_counter() - t0) * 1000)
    ranked_ms = medians(ranked, "ranked")
    for timed, how in ((warm, "in a running process"), (fresh, "on a fresh connection (empty page cache)")):
        mine, base = medians(timed, "mine"), medians(timed, "base")
        for filtered in (False, True):
            m50, m95 = percentile(mine[filtered], 50), percentile(mine[filtered], 95)
            b95 = percentile(base[filtered], 95)
            note = (f"FTS5's own ranking of every match, no filters, no snippets: p95 {percentile(ranked_ms[filtered], 95):.1f} ms"
                    if timed is warm else "as `tracker search` reads once started; each connection opened outside the clock")
            rows.append([f"search {'with' if filtered else 'without'} filters, {how}", f"{len(mine[filtered])} queries, median of {SEARCH_PASSES - 1} each",
                         f"p95 {b95:.1f} ms (bare MATCH, LIMIT 20)", f"p50 {m50:.1f} ms, p95 {m95:.1f} ms", f"{m95 / max(b95, 0.01):.1f}x",
                         "p95 <= 15 ms" if timed is warm else "", note])
    rows += shell_search(path)
    start, end = "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z"
    t0 = time.perf_counter()
    for sql in ("SELECT * FROM trials WHERE first_seen_at >= ? AND first_seen_at < ?", "SELECT * FROM trial_changes WHERE detected_at >= ? AND detected_at < ?",
                "SELECT * FROM publications WHERE first_seen_at >= ? AND first_seen_at < ?"):
        conn.execute(sql, (start, end)).fetchall()
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tracker-bench-cold-") as empty:  # no compiled template on disk
        cold = subprocess.run([sys.executable, "-c", f"from bench.__main__ import digest_once; digest_once({str(path)!r}, {start!r}, {end!r})"],
                              capture_output=True, text=True, cwd=Path(__file__).parents[1], env={**os.environ, "XDG_CACHE_HOME": empty, "TMPDIR": empty})
    if cold.returncode != 0:
        raise SystemExit(f"bench child failed: {cold.stderr[-2000:]}")
    timings = [float(cold.stdout.split()[-1])]
    for _ in range(2):  # as the weekly `tracker digest` runs it (compiled templates on disk, compiled again in the process), then warm
        t2 = time.perf_counter()
        digest = render_week(store, start, end)
        timings.append(time.perf_counter() - t2)
    counted = digest.counts
    size = f"{counted['new_trials'] + counted['changed_trials'] + counted['new_publications']:,} records"
    labels = ("digest, first ever (templates compiled from source)", "digest of a week at full scale", "digest again, templates compiled")
    for label, seconds in zip(labels, timings):
        rows.append([label, size, f"{(t1 - t0) * 1000:.0f} ms (bare window SELECTs)", f"{seconds * 1000:.0f} ms",
                     f"{seconds / max(t1 - t0, 1e-4):.1f}x", "<= 150 ms", ""])
    store.close()
    return rows


def render_week(store: Any, start: str, end: str) -> Any:
    """The digest of a window over the scale database's lines, rendered as Markdown and HTML; the Digest."""
    from tracker.digest import build_digest, render_html, render_markdown
    from tracker.models import Query

    digest = build_digest(store, [Query(name=name, title=name, description="") for name in scale.LINES], start=start, end=end)
    render_markdown(digest)
    render_html(digest)
    return digest


def digest_once(path: str, start: str, end: str) -> None:
    """One digest in a fresh process (the caller points XDG_CACHE_HOME at an empty directory: no compiled template on disk,
    as after installing or editing a template). Prints its seconds, imports and opening the database excluded."""
    import tracker.digest  # noqa: F401  (imported before the clock starts)
    from tracker.store import open_store

    store = open_store(Path(path))
    started = time.perf_counter()
    render_week(store, start, end)
    print(time.perf_counter() - started)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k ingests and a 60k + 100k database (a few minutes less)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached full-scale database in bench/out/")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved ingest rounds at 10,000, the median reported (default 3)")
    args = parser.parse_args()
    started = time.perf_counter()
    # search and digest first: the ingests write and delete gigabytes, and reads timed right after that waited on the
    # disk (a digest read 197 ms instead of 37 in one run, the cold one 248 instead of 110-170)
    latency = search_and_digest(60_000 if args.quick else 600_000, 100_000 if args.quick else 1_000_000, args.rebuild)
    rows: list[list[str]] = []
    with BenchServer() as server:
        rows += ingest(server, [10_000] if args.quick else [10_000, 100_000], max(1, args.rounds))
        rows += requests_per_update(server)
    rows += latency
    header = ["benchmark", "size", "baseline (same run)", "tracker", "ratio", "target", "notes"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |")
    print(f"\n{time.perf_counter() - started:.0f} s in all; python {sys.version.split()[0]}; {datetime.now(timezone.utc):%Y-%m-%d}")


if __name__ == "__main__":
    main()
