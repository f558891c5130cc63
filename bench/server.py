"""A local API server in its own process (so it does not share the client's GIL) serving synthetic CT.gov pages
and E-utilities answers built from the real recordings, with a request log. Paths carry the dataset:
/t{total}/c{changed}/api/v2/studies and /p{total}/c{changed}/entrez/eutils/{esearch,efetch}.fcgi."""

from __future__ import annotations

import json
import multiprocessing
import re
import threading
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from . import data

PER_DAY = 50
EPOCH = date(2000, 1, 1)


def _day(ymd: str) -> int:
    y, m, d = (int(x) for x in ymd.split("/"))
    try:
        return (date(y, m, d) - EPOCH).days
    except ValueError:
        return -1 if y < 2000 else 10**6


PATH_RE = re.compile(r"^/([tp])(\d+)/c(\d+)/(.*)$")
ESEARCH = (
    '<?xml version="1.0" encoding="UTF-8" ?>\n<!DOCTYPE eSearchResult PUBLIC "-//NLM//DTD esearch 20060628//EN" '
    '"https://eutils.ncbi.nlm.nih.gov/eutils/dtd/20060628/esearch.dtd">\n<eSearchResult><Count>{count}</Count><RetMax>0</RetMax>'
    "<RetStart>0</RetStart><QueryKey>1</QueryKey><WebEnv>MCID_bench</WebEnv><IdList></IdList><TranslationSet/></eSearchResult>"
)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counts: dict[str, int] = {}
    lock = threading.Lock()

    def log_message(self, *args) -> None:  # quiet
        pass

    def _send(self, body: bytes, ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _params(self) -> dict[str, str]:
        params = {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if self.command == "POST":
            length = int(self.headers.get("Content-Length") or 0)
            params.update({k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode()).items()})
        return params

    def handle_any(self) -> None:
        path = urlsplit(self.path).path
        params = self._params()
        if path == "/_stats":
            with self.lock:
                body = json.dumps(self.counts).encode()
                if params.get("reset"):
                    self.counts.clear()
            return self._send(body, "application/json")
        match = PATH_RE.match(path)
        if not match:
            self.send_error(404)
            return
        kind, total, changed, rest = match.group(1), int(match.group(2)), int(match.group(3)), match.group(4)
        key = f"{kind}{total}/c{changed}/{rest}"
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        if kind == "t" and "filter.ids" in params:  # the sweep: the asked-for studies that exist, NCT numbers only
            ids = [i for i in params["filter.ids"].split(",") if i.startswith("NCT9") and int(i[4:]) < total]
            body = json.dumps({"studies": [{"protocolSection": {"identificationModule": {"nctId": i}}} for i in ids]})
            return self._send(body.encode(), "application/json")
        if kind == "t":
            only_changed = "LastUpdatePostDate" in params.get("filter.advanced", "")
            start = int(params.get("pageToken") or 0)
            size = min(int(params.get("pageSize", 10)), 1000)
            return self._send(data.study_page(start, size, total, changed, only_changed), "application/json")
        if rest.endswith("esearch.fcgi"):
            lo, hi = 0, total
            if params.get("datetype") == "edat":  # article i was entered on day i // PER_DAY after 2000-01-01
                lo = max(0, min(total, _day(params["mindate"]) * PER_DAY))
                hi = max(lo, min(total, (_day(params["maxdate"]) + 1) * PER_DAY))
                if params["mindate"] > "2026/01/01":  # a later run: nothing newly entered
                    lo = hi = 0
            elif params.get("datetype") == "mdat":
                lo, hi = 0, changed
            body = ESEARCH.format(count=hi - lo).replace("MCID_bench", f"W{lo}_{hi}")
            return self._send(body.encode(), "text/xml")
        lo, hi = (int(x) for x in params.get("WebEnv", f"W0_{total}")[1:].split("_")) if params.get("WebEnv", "").startswith("W") else (0, total)
        start, size = lo + int(params.get("retstart", 0)), int(params.get("retmax", 20))
        return self._send(data.article_batch(start, min(size, hi - start), hi), "text/xml")

    do_GET = handle_any
    do_POST = handle_any


def _serve(port_out) -> None:
    data.study_templates(data.REAL_STUDIES)
    data.article_templates(max_size=None)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port_out.put(server.server_address[1])
    server.serve_forever()


class BenchServer:
    def __enter__(self) -> "BenchServer":
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        self.process = ctx.Process(target=_serve, args=(queue,), daemon=True)
        self.process.start()
        self.port = queue.get(timeout=60)
        self.base = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        self.process.join(5)

    def ctgov_url(self, total: int, changed: int = 0) -> str:
        return f"{self.base}/t{total}/c{changed}/api/v2"

    def eutils_url(self, total: int, changed: int = 0) -> str:
        return f"{self.base}/p{total}/c{changed}/entrez/eutils"

    def stats(self, reset: bool = True) -> dict[str, int]:
        import requests

        return requests.get(f"{self.base}/_stats", params={"reset": "1"} if reset else {}, timeout=30).json()
