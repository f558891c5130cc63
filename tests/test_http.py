"""The shared HTTP client against a real local server: retries, Retry-After, fail-fast 4xx, redaction."""

import pytest
from werkzeug import Response

from tracker import __version__
from tracker.errors import HttpError
from tracker.http import HttpClient, RetryableBody
from tracker.sources import services


class Clock:
    def __init__(self):
        self.now = 0.0
        self.sleeps = []

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 3))
        self.now += seconds

    def __call__(self):
        return self.now


def sequence(httpserver, *responses):
    calls = []

    def handler(request):
        calls.append(request)
        return responses[min(len(calls), len(responses)) - 1]

    httpserver.expect_request("/api/v2/studies").respond_with_handler(handler)
    return calls


def client(settings, clock=None, **overrides):
    settings = settings.with_overrides(**overrides)
    clock = clock or Clock()
    return HttpClient(settings, sleep=clock.sleep, clock=clock, services=services(settings))


def test_retries_429_honouring_retry_after_then_succeeds(settings, httpserver):
    calls = sequence(httpserver, Response("slow down", status=429, headers={"Retry-After": "7"}), Response('{"studies": []}'))
    clock = Clock()
    body = client(settings, clock).get(settings.ctgov_url + "/studies")
    assert body == b'{"studies": []}'
    assert len(calls) == 2 and clock.sleeps == [7.0]
    assert calls[0].headers["User-Agent"].startswith(f"tracker/{__version__} (clinical-trial and literature tracker")


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_are_retried_with_growing_jittered_backoff_and_bounded(settings, httpserver, status):
    calls = sequence(httpserver, Response("boom", status=status))
    clock = Clock()
    with pytest.raises(HttpError, match=rf"failed after 4 attempts .*HTTP {status}"):
        client(settings, clock, backoff_base=2.0).get(settings.ctgov_url + "/studies")
    assert len(calls) == 4
    assert [1.0 <= clock.sleeps[0] <= 2.0, 2.0 <= clock.sleeps[1] <= 4.0, 4.0 <= clock.sleeps[2] <= 8.0] == [True] * 3


def test_total_retry_time_is_bounded(settings, httpserver):
    calls = sequence(httpserver, Response("boom", status=503, headers={"Retry-After": "50"}))
    clock = Clock()
    with pytest.raises(HttpError, match="failed after 3 attempts"):
        client(settings, clock, max_retries=10, max_retry_seconds=120).get(settings.ctgov_url + "/studies")
    assert clock.sleeps == [50.0, 50.0] and len(calls) == 3


def test_a_400_fails_at_once_with_the_apis_own_message(settings, httpserver):
    calls = sequence(httpserver, Response("`filter.phase` is unknown parameter", status=400, content_type="text/plain"))
    with pytest.raises(HttpError) as info:
        client(settings).get(settings.ctgov_url + "/studies", {"filter.phase": "PHASE3"})
    assert str(info.value) == "ClinicalTrials.gov rejected the request (HTTP 400): `filter.phase` is unknown parameter"
    assert len(calls) == 1


def test_a_404_html_page_reads_as_one_line_that_names_the_address(settings, httpserver):
    page = ("<!DOCTYPE HTML>\n<html lang='en'><head><title>Error response</title><style>p {color: red}</style></head>\n"
            "<body><h1>Error response</h1>\n<p>Error code: 404</p><p>Message: Not Found.</p></body></html>")
    calls = sequence(httpserver, Response(page, status=404, content_type="text/html"))
    with pytest.raises(HttpError) as info:
        client(settings).get(settings.ctgov_url + "/studies")
    assert str(info.value) == (f"ClinicalTrials.gov rejected the request (HTTP 404): nothing at {settings.ctgov_url}/studies "
                               "(Error response Error code: 404 Message: Not Found.)")
    assert len(calls) == 1


def test_a_403_is_reported_as_blocked_and_not_retried(settings, httpserver):
    calls = sequence(httpserver, Response("Forbidden", status=403))
    with pytest.raises(HttpError, match="blocked by the server"):
        client(settings).get(settings.ctgov_url + "/studies")
    assert len(calls) == 1


def test_a_body_rejected_by_the_parser_is_asked_for_again(settings, httpserver):
    calls = sequence(httpserver, Response('{"studies": [', status=200), Response('{"studies": []}'))

    def parse(body):
        if not body.endswith(b"}"):
            raise RetryableBody("cut off")
        return body

    assert client(settings).get(settings.ctgov_url + "/studies", parse=parse) == b'{"studies": []}'
    assert len(calls) == 2


def test_pacing_spaces_requests_per_service(settings, httpserver):
    sequence(httpserver, Response("{}"))
    clock = Clock()
    http = client(settings, clock, ctgov_rate=1.0)
    for _ in range(3):
        http.get(settings.ctgov_url + "/studies")
    assert clock.sleeps == [1.0, 1.0]


def test_connection_errors_never_quote_the_url_or_the_key(settings):
    secret = "SECRETKEY123456"
    http = client(settings.with_overrides(ncbi_api_key=secret, eutils_url="http://127.0.0.1:9/entrez/eutils"), max_retries=1)
    with pytest.raises(HttpError) as info:
        http.get("http://127.0.0.1:9/entrez/eutils/esearch.fcgi", {"api_key": secret, "term": "x"})
    assert secret not in str(info.value)
    assert str(info.value) == "PubMed: esearch.fcgi failed after 2 attempts in 0s: could not connect to 127.0.0.1:9"


def test_a_server_trickling_its_answer_is_cut_off_by_the_response_timeout(settings, httpserver):
    import time

    def trickle():
        for _ in range(40):  # a byte every 0.1 s: the 2 s read timeout never trips, the answer would take 4 s
            yield b" "
            time.sleep(0.1)

    calls = []
    httpserver.expect_request("/api/v2/studies").respond_with_handler(
        lambda request: calls.append(request) or Response(trickle(), direct_passthrough=True))
    fake = Clock()
    http = HttpClient(settings.with_overrides(response_timeout=0.5, read_timeout=2.0, max_retries=1), sleep=fake.sleep, clock=time.monotonic, services=services(settings))
    started = time.monotonic()
    with pytest.raises(HttpError, match=r"failed after 2 attempts .*the answer took longer than 0.5s in all"):
        http.get(settings.ctgov_url + "/studies")
    assert len(calls) == 2 and time.monotonic() - started < 3.5


def test_the_apis_of_one_service_share_its_pace(settings):
    from tracker.http import HttpClient
    from tracker.sources import services

    paced = settings.with_overrides(europepmc_rate=2.0)
    http = HttpClient(paced, services=services(paced))
    rest, annotations = http._service(paced.europepmc_url + "/search"), http._service(paced.annotations_url + "/annotationsByArticleIds")
    assert rest == annotations == ("Europe PMC", "Europe PMC", 0.5)  # one key: Europe PMC's REST and Annotations APIs, 2 a second in all
    http.close()


def test_a_server_trickling_a_sized_answer_is_cut_off_by_the_response_timeout(settings, httpserver):
    """A Content-Length answer sent a byte at a time (no chunks to stop at): the deadline still holds, as bytes come."""
    import time

    def trickle():
        for _ in range(40):
            yield b" "
            time.sleep(0.1)

    httpserver.expect_request("/api/v2/studies").respond_with_handler(
        lambda request: Response(trickle(), headers={"Content-Length": "40"}, direct_passthrough=True))
    http = HttpClient(settings.with_overrides(response_timeout=0.5, read_timeout=2.0, max_retries=0), sleep=lambda s: None,
                      clock=time.monotonic, services=services(settings))
    started = time.monotonic()
    with pytest.raises(HttpError, match=r"the answer took longer than 0.5s in all"):
        http.get(settings.ctgov_url + "/studies")
    assert time.monotonic() - started < 2.0
