"""Faults a test server can inject into one answer. Each is a callable(request) -> Response | None (None: answer
normally, after whatever the fault did). Names are used in the README's reliability matrix."""

from __future__ import annotations

import socket
import struct
import time

from werkzeug import Request, Response

from .conftest import fixture_path


def status(code: int, **headers: str):
    def fault(request: Request) -> Response:
        return Response(f"injected {code}", status=code, headers=headers, content_type="text/plain")

    return fault


def ncbi_rate_limit_200(request: Request) -> Response:
    body = fixture_path("pubmed", "biomcp", "esummary_json_error_rate_limit__25d28782.json").read_bytes()
    return Response(body, status=200, content_type="application/json")


def connection_reset(request: Request) -> Response:
    sock: socket.socket = request.environ["werkzeug.socket"]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with RST
    sock.close()
    return Response("")


def cut_off(request: Request) -> Response:
    """Headers promise 50,000 bytes; 40 arrive and the connection closes."""
    return Response(iter([b'{"studies": [{"protocolSection": {"ident']), headers={"Content-Length": "50000", "Connection": "close"})


def malformed(request: Request) -> Response:
    if "eutils" in request.path:
        return Response("<?xml version=\"1.0\"?><PubmedArticleSet><PubmedArticle><Medline", content_type="text/xml")
    return Response('{"studies": [{"protocolSection": ', content_type="application/json")


def slow(seconds: float):
    def fault(request: Request) -> None:
        time.sleep(seconds)
        return None

    return fault


FAULTS = {
    "429 with Retry-After": status(429, **{"Retry-After": "0"}),
    "429 without Retry-After": status(429),
    "NCBI rate-limit JSON with HTTP 200": ncbi_rate_limit_200,
    "500": status(500),
    "502": status(502),
    "503": status(503),
    "504": status(504),
    "connection reset": connection_reset,
    "body cut off mid-way": cut_off,
    "malformed JSON/XML": malformed,
    "slower than the read timeout": slow(1.5),
}
