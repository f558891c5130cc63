"""The one HTTP client both sources use: base URLs from settings, timeouts, polite pacing per service,
bounded retries with backoff and jitter, an honest User-Agent, and secrets kept out of every message.

It knows nothing of trials or publications; sources pass a `parse` callback that may reject a body as retryable.
"""

from __future__ import annotations

import base64
import email.utils
import functools
import logging
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping
from urllib.parse import quote, quote_plus, urlsplit

from . import __version__
from .errors import HttpError
from .settings import Settings

if TYPE_CHECKING:
    import requests

# requests (with urllib3) is imported when a client is made, not when the tracker starts: a search or `show` never
# fetches, and requests was a fifth of their start-up (python -m bench.shell)

log = logging.getLogger("tracker.http")

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_SINGLE_DELAY = 60.0


class RetryableBody(Exception):
    """Raised by a parse callback: the body is cut off, malformed or a rate-limit notice; ask again."""


class _SlowBody(Exception):
    """The whole answer took longer than the response timeout (a server trickling bytes never trips the read timeout)."""


class _TooLarge(Exception):
    """The answer, decoded, passed the size limit (TRACKER_HTTP_MAX_BYTES): not read further, not asked again."""


class _BodyLost(Exception):
    """The connection failed after the answer began: timed out or closed between chunks of the body."""


BODY_CHUNK = 1 << 16


def secret_forms(secret: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(the forms a secret is printed in as text: as it is, URL-encoded in a logged URL or form body; the base64
    characters only it decides, at each of the three alignments it can take inside a longer token: SMTP AUTH LOGIN
    sends the password alone, AUTH PLAIN as base64 of \\0user\\0password, and a server may echo either)."""
    plain = {secret, quote(secret, safe=""), quote_plus(secret)}
    cores = set()
    for pad in (b"", b"\0", b"\0\0"):
        core = base64.b64encode(pad + secret.encode()).decode().rstrip("=")[4 if pad else 0:]
        if len(core) >= 6:
            cores.add(core)
    return tuple(sorted(plain, key=len, reverse=True)), tuple(cores)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """Secrets out of a text in every form: a base64 token carrying one is removed whole (its first characters
    mix the secret with what preceded it)."""
    for secret in secrets:
        if secret:
            plain, cores = secret_forms(secret)
            for form in plain:
                text = text.replace(form, "***")
            for core in cores:
                if core in text:
                    text = re.sub(r"[A-Za-z0-9+/]*" + re.escape(core) + r"[A-Za-z0-9+/]*=*", "***", text)
    return text


@functools.lru_cache(maxsize=1)
def same_host_session() -> type:
    """requests.Session that follows a redirect only within the host it asked: a redirect elsewhere is answered as
    it came (the client refuses it), so an API key in the query or a POST body is never sent to another host."""
    import requests

    class SameHostSession(requests.Session):
        def get_redirect_target(self, resp: requests.Response) -> str | None:
            target = super().get_redirect_target(resp)
            if target is None:
                return None
            asked, going = urlsplit(resp.url), urlsplit(requests.compat.urljoin(resp.url, target))
            return target if (going.scheme, going.netloc) == (asked.scheme, asked.netloc) else None

    return SameHostSession


def user_agent(settings: Settings) -> str:
    import requests

    contact = f"; mailto:{settings.ncbi_email}" if settings.ncbi_email else ""
    return f"tracker/{__version__} (clinical-trial and literature tracker for hair-loss research{contact}) python-requests/{requests.__version__}"


class HttpClient:
    """requests.Session with pacing and retries. One instance per process (or per scheduled job)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        services: Mapping[str, tuple[str, float]] | None = None,
    ) -> None:
        """services: base URL -> (the service's name in messages, seconds between its requests), as the sources
        declare them (tracker.sources.open_client); a URL under none of them is named by its host, unpaced."""
        self.settings = settings
        self.session = same_host_session()()
        self.session.headers["User-Agent"] = user_agent(settings)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._lock = threading.Lock()
        self._last_request: dict[str, float] = {}
        self._services = {base.rstrip("/"): named for base, named in (services or {}).items()}
        self.requests_made = 0

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _service(self, url: str) -> tuple[str, str, float]:
        """(pacing key, service name, seconds between requests) of a URL: a declared service's bases share one pace
        (Europe PMC's REST and Annotations APIs are one service), any other host is paced by nothing."""
        for base, (name, interval) in self._services.items():
            if url.startswith(base):
                return name, name, interval
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}", parts.netloc, 0.0

    def _pace(self, key: str, interval: float) -> None:
        """Wait for this service's next slot. The slot is reserved under the lock and waited for outside it, so
        threads asking different services (an update fetches them side by side) never wait for each other."""
        if interval <= 0:
            return
        with self._lock:
            now = self._clock()
            slot = max(now, self._last_request.get(key, -1e9) + interval)
            self._last_request[key] = slot
        if slot > now:
            self._sleep(slot - now)

    def _clean(self, text: str) -> str:
        return redact(" ".join(str(text).split()), self.settings.secrets)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(MAX_SINGLE_DELAY, self.settings.backoff_base * (2 ** (attempt - 1)))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | None = None,
        json_body: Any = None,
        parse: Callable[[bytes], Any] | None = None,
    ) -> Any:
        """Send one logical request; return parse(body) (or the body). Raise HttpError with one clean line."""
        import requests

        key, service, interval = self._service(url)
        where = urlsplit(url).path.rsplit("/", 1)[-1] or urlsplit(url).netloc
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            self._pace(key, interval)
            retry_after: float | None = None
            try:
                with self._lock:
                    self.requests_made += 1
                deadline = self._clock() + self.settings.response_timeout
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    json=json_body,
                    timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                    stream=True,
                )
                body = self._read_body(response, deadline)
            except requests.exceptions.Timeout:
                problem = "timed out"
            except _SlowBody:
                problem = f"the answer took longer than {self.settings.response_timeout:g}s in all"
            except _TooLarge:
                raise HttpError(self._clean(f"{service}: the answer to {where} passed {self.settings.max_response_bytes:,} bytes "
                                            "(TRACKER_HTTP_MAX_BYTES); not read further")) from None
            except requests.exceptions.ChunkedEncodingError:
                problem = "response was cut off"
            except requests.exceptions.ContentDecodingError:
                problem = "response could not be decoded"
            except _BodyLost as exc:
                problem = f"connection lost while reading the answer ({exc})"
            except requests.exceptions.ConnectionError:
                problem = f"could not connect to {urlsplit(url).netloc}"
            except requests.exceptions.RequestException as exc:
                raise HttpError(self._clean(f"{service}: request failed: {type(exc).__name__}")) from None
            else:
                status = response.status_code
                if 200 <= status < 300:
                    if parse is None:
                        return body
                    try:
                        return parse(body)
                    except RetryableBody as exc:
                        problem = str(exc)
                elif status in RETRY_STATUSES:
                    problem = f"HTTP {status}"
                    retry_after = _retry_after(response.headers.get("Retry-After"))
                elif 300 <= status < 400 and response.headers.get("Location"):
                    target = urlsplit(requests.compat.urljoin(url, response.headers["Location"])).netloc
                    raise HttpError(f"{service}: {where} redirected to another host ({target}); not followed, so nothing "
                                    "the request carried went there", status=status)
                elif status == 403:
                    raise HttpError(f"{service}: blocked by the server (HTTP 403) on {where}; not retried", status=403)
                else:
                    message = self._clean(_answer_text(body, response.headers.get("Content-Type", "")))[:300] or response.reason
                    if status == 404:  # most often a base URL set wrong: say which address was asked
                        message = f"nothing at {self._clean(url)} ({message})"
                    raise HttpError(f"{service} rejected the request (HTTP {status}): {message}", status=status)
            elapsed = self._clock() - started
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            if attempt > self.settings.max_retries or elapsed + delay > self.settings.max_retry_seconds:
                raise HttpError(
                    self._clean(f"{service}: {where} failed after {attempt} attempts in {elapsed:.0f}s: {problem}"),
                    exhausted=True,
                )
            log.warning(self._clean(f"{service}: {where} {problem}; retry {attempt} in {delay:.1f}s"))
            if delay > 0:
                self._sleep(delay)

    def _read_body(self, response: requests.Response, deadline: float) -> bytes:
        """The whole body, read in chunks against a deadline for the attempt (the read timeout bounds each wait for
        bytes, not the answer: a trickle of a byte every few seconds would never end)."""
        import requests
        import urllib3

        chunks, size = [], 0
        limit = self.settings.max_response_bytes
        try:
            while True:
                # read1: whatever has arrived (up to a chunk), so the deadline is checked as bytes come, however few;
                # decoded: a small gzip answer can expand a thousandfold
                chunk = response.raw.read1(BODY_CHUNK, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if limit and size > limit:
                    raise _TooLarge(size)
                if self._clock() > deadline:
                    raise _SlowBody()
        except urllib3.exceptions.ReadTimeoutError:
            raise _BodyLost("read timed out") from None
        except urllib3.exceptions.DecodeError:
            raise requests.exceptions.ContentDecodingError("response could not be decoded") from None
        except urllib3.exceptions.ProtocolError as exc:  # the body ended before its length or its last chunk
            if "timed out" in str(exc).lower():
                raise _BodyLost("read timed out") from None
            raise requests.exceptions.ChunkedEncodingError("response was cut off") from None
        except (requests.exceptions.ConnectionError, OSError) as exc:
            raise _BodyLost("read timed out" if "timed out" in str(exc).lower() else "closed by the server") from None
        finally:
            response.close()
        return b"".join(chunks)

    def get(self, url: str, params: Mapping[str, Any] | None = None, parse: Callable[[bytes], Any] | None = None) -> Any:
        return self.request("GET", url, params=params, parse=parse)

    def post(self, url: str, data: Mapping[str, Any] | None = None, parse: Callable[[bytes], Any] | None = None, *,
             json_body: Any = None) -> Any:
        """A form POST (data), or a JSON one (json_body: sent as application/json)."""
        return self.request("POST", url, data=data, json_body=json_body, parse=parse)


def _answer_text(body: bytes, content_type: str) -> str:
    """What a refusing server said: its text, or an HTML error page's visible text (a proxy's or a web server's
    page would otherwise print its markup)."""
    text = body.decode("utf-8", "replace")
    if "html" not in content_type.lower() and not text.lstrip()[:14].lower().startswith(("<!doctype html", "<html")):
        return text
    from lxml import etree, html  # only on a refusal: lxml.html costs 20 ms of every command's start

    try:
        page = html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return text
    for hidden in page.xpath("//head | //script | //style"):
        hidden.drop_tree()
    return " ".join(page.itertext())  # block elements run together in text_content()


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (delta or HTTP date), capped; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_SINGLE_DELAY)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(0.0, when.timestamp() - time.time()), MAX_SINGLE_DELAY)
