"""`python -m bench.bounds`: the bounds of issue 35 as figures, each beside what the same case cost without the bound
(measured in the same run where that is safe to run, else said): a server trickling a sized answer a byte at a time,
a gzip answer expanding a thousandfold, and a search hit of megabytes (FTS5's snippet). Local servers only."""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
import time
import tracemalloc
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tracker.errors import HttpError
from tracker.http import HttpClient
from tracker.models import Publication, built
from tracker.settings import Settings
from tracker.store import RecordFilter, open_store, save_records, select_search
import tracker.store.reads as reads

BOMB = gzip.compress(b"0" * 200_000_000)  # 200 MB decoded, about 200 kB on the wire


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/trickle"):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):  # the client stopped reading: its bound held
                pass
        else:
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(BOMB)))
            self.end_headers()
            try:
                self.wfile.write(BOMB)
            except (BrokenPipeError, ConnectionResetError):
                pass


def timed(client: HttpClient, url: str) -> tuple[float, str, float]:
    """(seconds, 'answered' or 'refused', peak traced MB) of one request."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        client.get(url)
        said = "answered"
    except HttpError:
        said = "refused"
    took, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    return took, said, peak


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    settings = Settings(response_timeout=0.5, read_timeout=5, max_retries=0, backoff_base=0)
    print("| case | bound | with the bound | without it |")
    print("|---|---|---|---|")
    bounded, unbounded = timed(HttpClient(settings), base + "/trickle"), timed(HttpClient(settings.with_overrides(response_timeout=60)), base + "/trickle")
    print(f"| sized answer, a byte every 50 ms (5 s in all) | TRACKER_HTTP_RESPONSE_TIMEOUT 0.5 s | {bounded[0]:.2f} s, {bounded[1]} | "
          f"{unbounded[0]:.2f} s, {unbounded[1]} (timeout 60 s) |")
    capped = timed(HttpClient(settings.with_overrides(response_timeout=60, max_response_bytes=10_000_000)), base + "/bomb")
    uncapped = timed(HttpClient(settings.with_overrides(response_timeout=60, max_response_bytes=0)), base + "/bomb")
    print(f"| gzip answer of {len(BOMB) / 1e3:.0f} kB decoding to 200 MB | TRACKER_HTTP_MAX_BYTES 10 MB | {capped[0]:.2f} s, peak "
          f"{capped[2]:.0f} MB, {capped[1]} | {uncapped[0]:.2f} s, peak {uncapped[2]:.0f} MB, {uncapped[1]} (no limit) |")
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(os.path.join(tmp, "b.db"))
        huge = built(Publication, pmid="1", title="A record of megabytes", abstract="stem cell growth " * 300_000, raw_xml="<x/>")
        with store.transaction():
            save_records(store, "pubmed", [huge], query="q", run_id=None, now=datetime(2026, 12, 4, tzinfo=timezone.utc))
        started = time.perf_counter()
        select_search(store, '"cell"', kind="publications", f=RecordFilter(), limit=20)
        bounded = time.perf_counter() - started
        small = built(Publication, pmid="2", title="Capped search", abstract="stem cell growth " * 12_000, raw_xml="<y/>")  # 200 kB
        with store.transaction():
            save_records(store, "pubmed", [small], query="q", run_id=None, now=datetime(2026, 12, 4, tzinfo=timezone.utc))
        reads.SNIPPET_MAX_CHARS = 10 ** 12  # the snippet of the 200 kB record, unbounded: what a megabyte record costs grows faster
        started = time.perf_counter()
        select_search(store, '"growth" AND "capped"', kind="publications", f=RecordFilter(), limit=20)
        unbounded = time.perf_counter() - started
        store.close()
    print(f"| search hit of 5.1 MB (the word in every line) | no snippet past 200,000 characters | {bounded * 1000:.0f} ms | "
          f"{unbounded:.1f} s for a 0.2 MB hit's snippet (the 5.1 MB one ran for minutes: not rerun) |")
    server.shutdown()


if __name__ == "__main__":
    main()
