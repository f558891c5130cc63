"""Settings from the environment (TRACKER_*, NCBI_*) and their defaults. Nothing else: topic lines and claims
are loaded by topics.py."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError

DEFAULT_CTGOV_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
DEFAULT_CTIS_URL = "https://euclinicaltrials.eu/ctis-public-api"
DEFAULT_ISRCTN_URL = "https://www.isrctn.com/api"
DEFAULT_EUROPEPMC_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest"
SERVE_DATABASE = "tracker"  # the database's name in `tracker serve`'s (Datasette's) URLs: /tracker/trials


@dataclass(frozen=True)
class Settings:
    ctgov_url: str = DEFAULT_CTGOV_URL
    eutils_url: str = DEFAULT_EUTILS_URL
    ctis_url: str = DEFAULT_CTIS_URL
    isrctn_url: str = DEFAULT_ISRCTN_URL
    europepmc_url: str = DEFAULT_EUROPEPMC_URL
    europepmc_annotations_url: str | None = None  # None: beside the REST base (.../europepmc/annotations_api)
    db_path: Path = Path("data/tracker.db")
    reports_dir: Path = Path("reports")
    queries_dir: Path = Path("queries")
    ncbi_api_key: str | None = None
    ncbi_email: str | None = None
    # requests per second; 0 disables pacing (tests)
    ctgov_rate: float = 1.0
    ncbi_rate: float | None = None  # None: 3/s, or 10/s with an API key
    ctis_rate: float = 1.0  # the EMA documents no limit: one request a second is a polite guest's pace
    isrctn_rate: float = 1.0
    europepmc_rate: float = 2.0  # no documented limit; well-behaved clients pace 1-3 a second
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    response_timeout: float = 300.0  # one attempt's whole answer, however slowly the bytes arrive
    max_response_bytes: int = 1 << 30  # one answer, decoded: a CT.gov page of 1,000 studies is ~20-80 MB; a gzip bomb is refused
    max_retries: int = 5
    backoff_base: float = 1.0
    max_retry_seconds: float = 120.0
    smtp: dict[str, str] = field(default_factory=dict)
    update_cron: str = "0 6 * * *"
    digest_cron: str = "0 7 * * mon"
    timezone: str = "UTC"
    base_url: str | None = None  # where reports/ is served; makes the feeds' links absolute
    serve_url: str | None = None  # where `tracker serve` (Datasette) is reachable; the digest links the stored records there
    # evidence signals (tracker.rules.Thresholds)
    overdue_months: int = 12
    slip_months: int = 6
    stale_months: int = 12
    stale_update_months: int = 24
    sweep_days: int = 7

    @property
    def ncbi_interval(self) -> float:
        rate = self.ncbi_rate if self.ncbi_rate is not None else (10.0 if self.ncbi_api_key else 3.0)
        return 0.0 if rate <= 0 else 1.0 / rate

    @property
    def ctgov_interval(self) -> float:
        return _interval(self.ctgov_rate)

    @property
    def ctis_interval(self) -> float:
        return _interval(self.ctis_rate)

    @property
    def isrctn_interval(self) -> float:
        return _interval(self.isrctn_rate)

    @property
    def europepmc_interval(self) -> float:
        return _interval(self.europepmc_rate)

    @property
    def annotations_url(self) -> str:
        """The Europe PMC Annotations API: as set, else beside the REST base (webservices/rest -> annotations_api)."""
        if self.europepmc_annotations_url:
            return self.europepmc_annotations_url
        base = self.europepmc_url.rstrip("/")
        return (base[: -len("/webservices/rest")] if base.endswith("/webservices/rest") else base) + "/annotations_api"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed, logged or stored."""
        return tuple(s for s in (self.ncbi_api_key, self.smtp.get("password")) if s)

    def with_overrides(self, **values: Any) -> "Settings":
        return replace(self, **{k: v for k, v in values.items() if v is not None})


def _interval(rate: float) -> float:
    """Seconds between requests at `rate` per second; 0 (no pacing) for a rate of 0."""
    return 0.0 if rate <= 0 else 1.0 / rate


def _number(environ: Mapping[str, str], name: str, default: float, kind=float):
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    ncbi_rate = env.get("TRACKER_NCBI_RATE")
    smtp = {
        key.lower(): env[f"TRACKER_SMTP_{key}"]
        for key in ("HOST", "PORT", "USER", "PASSWORD", "FROM", "TO", "STARTTLS", "UNSUBSCRIBE")
        if env.get(f"TRACKER_SMTP_{key}")
    }
    return Settings(
        ctgov_url=env.get("TRACKER_CTGOV_URL") or DEFAULT_CTGOV_URL,
        eutils_url=env.get("TRACKER_EUTILS_URL") or DEFAULT_EUTILS_URL,
        ctis_url=env.get("TRACKER_CTIS_URL") or DEFAULT_CTIS_URL,
        isrctn_url=env.get("TRACKER_ISRCTN_URL") or DEFAULT_ISRCTN_URL,
        europepmc_url=env.get("TRACKER_EUROPEPMC_URL") or DEFAULT_EUROPEPMC_URL,
        europepmc_annotations_url=env.get("TRACKER_EUROPEPMC_ANNOTATIONS_URL") or None,
        db_path=Path(env.get("TRACKER_DB") or "data/tracker.db"),
        reports_dir=Path(env.get("TRACKER_REPORTS") or "reports"),
        queries_dir=Path(env.get("TRACKER_QUERIES") or "queries"),
        ncbi_api_key=env.get("NCBI_API_KEY") or None,
        ncbi_email=env.get("NCBI_EMAIL") or None,
        ctgov_rate=_number(env, "TRACKER_CTGOV_RATE", 1.0),
        ctis_rate=_number(env, "TRACKER_CTIS_RATE", 1.0),
        isrctn_rate=_number(env, "TRACKER_ISRCTN_RATE", 1.0),
        europepmc_rate=_number(env, "TRACKER_EUROPEPMC_RATE", 2.0),
        ncbi_rate=_number(env, "TRACKER_NCBI_RATE", None) if ncbi_rate else None,
        connect_timeout=_number(env, "TRACKER_CONNECT_TIMEOUT", 10.0),
        read_timeout=_number(env, "TRACKER_READ_TIMEOUT", 60.0),
        response_timeout=_number(env, "TRACKER_HTTP_RESPONSE_TIMEOUT", 300.0),
        max_response_bytes=_number(env, "TRACKER_HTTP_MAX_BYTES", 1 << 30, int),
        max_retries=_number(env, "TRACKER_HTTP_RETRIES", 5, int),
        backoff_base=_number(env, "TRACKER_HTTP_BACKOFF", 1.0),
        max_retry_seconds=_number(env, "TRACKER_HTTP_MAX_RETRY_SECONDS", 120.0),
        smtp=smtp,
        update_cron=env.get("TRACKER_UPDATE_CRON") or "0 6 * * *",
        digest_cron=env.get("TRACKER_DIGEST_CRON") or "0 7 * * mon",
        timezone=env.get("TRACKER_TIMEZONE") or "UTC",
        base_url=env.get("TRACKER_BASE_URL") or None,
        serve_url=(env.get("TRACKER_SERVE_URL") or "").rstrip("/") or None,
        overdue_months=_number(env, "TRACKER_OVERDUE_MONTHS", 12, int),
        slip_months=_number(env, "TRACKER_SLIP_MONTHS", 6, int),
        stale_months=_number(env, "TRACKER_STALE_MONTHS", 12, int),
        stale_update_months=_number(env, "TRACKER_STALE_UPDATE_MONTHS", 24, int),
        sweep_days=_number(env, "TRACKER_SWEEP_DAYS", 7, int),
    )
