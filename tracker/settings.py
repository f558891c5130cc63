"""Settings from the environment (TRACKER_*, NCBI_*) with their defaults, and the topic-line loader.

Nothing here touches the network or the database.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from .errors import ConfigError
from .models import Query

DEFAULT_CTGOV_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_EUTILS_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"

CTGOV_KEYS = (
    "query.cond",
    "query.intr",
    "query.term",
    "query.titles",
    "query.spons",
    "query.locn",
    "filter.advanced",
    "filter.overallStatus",
)
QUERY_KEYS = {"name", "title", "description", "ctgov", "pubmed"}
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Settings:
    ctgov_url: str = DEFAULT_CTGOV_URL
    eutils_url: str = DEFAULT_EUTILS_URL
    db_path: Path = Path("data/tracker.db")
    reports_dir: Path = Path("reports")
    queries_dir: Path = Path("queries")
    ncbi_api_key: str | None = None
    ncbi_email: str | None = None
    # requests per second; 0 disables pacing (tests)
    ctgov_rate: float = 1.0
    ncbi_rate: float | None = None  # None: 3/s, or 10/s with an API key
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retries: int = 5
    backoff_base: float = 1.0
    max_retry_seconds: float = 120.0
    smtp: dict[str, str] = field(default_factory=dict)
    update_cron: str = "0 6 * * *"
    digest_cron: str = "0 7 * * mon"
    timezone: str = "UTC"

    @property
    def ncbi_interval(self) -> float:
        rate = self.ncbi_rate if self.ncbi_rate is not None else (10.0 if self.ncbi_api_key else 3.0)
        return 0.0 if rate <= 0 else 1.0 / rate

    @property
    def ctgov_interval(self) -> float:
        return 0.0 if self.ctgov_rate <= 0 else 1.0 / self.ctgov_rate

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values that must never be printed, logged or stored."""
        return tuple(s for s in (self.ncbi_api_key, self.smtp.get("password")) if s)

    def with_overrides(self, **values: Any) -> "Settings":
        return replace(self, **{k: v for k, v in values.items() if v is not None})


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
        for key in ("HOST", "PORT", "USER", "PASSWORD", "FROM", "TO", "STARTTLS")
        if env.get(f"TRACKER_SMTP_{key}")
    }
    return Settings(
        ctgov_url=env.get("TRACKER_CTGOV_URL") or DEFAULT_CTGOV_URL,
        eutils_url=env.get("TRACKER_EUTILS_URL") or DEFAULT_EUTILS_URL,
        db_path=Path(env.get("TRACKER_DB") or "data/tracker.db"),
        reports_dir=Path(env.get("TRACKER_REPORTS") or "reports"),
        queries_dir=Path(env.get("TRACKER_QUERIES") or "queries"),
        ncbi_api_key=env.get("NCBI_API_KEY") or None,
        ncbi_email=env.get("NCBI_EMAIL") or None,
        ctgov_rate=_number(env, "TRACKER_CTGOV_RATE", 1.0),
        ncbi_rate=_number(env, "TRACKER_NCBI_RATE", None) if ncbi_rate else None,
        connect_timeout=_number(env, "TRACKER_CONNECT_TIMEOUT", 10.0),
        read_timeout=_number(env, "TRACKER_READ_TIMEOUT", 60.0),
        max_retries=_number(env, "TRACKER_HTTP_RETRIES", 5, int),
        backoff_base=_number(env, "TRACKER_HTTP_BACKOFF", 1.0),
        max_retry_seconds=_number(env, "TRACKER_HTTP_MAX_RETRY_SECONDS", 120.0),
        smtp=smtp,
        update_cron=env.get("TRACKER_UPDATE_CRON") or "0 6 * * *",
        digest_cron=env.get("TRACKER_DIGEST_CRON") or "0 7 * * mon",
        timezone=env.get("TRACKER_TIMEZONE") or "UTC",
    )


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file as a dict, or a ConfigError naming the file and the problem."""
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`query.cond = ...` in TOML is a nested table; accept it and the quoted "query.cond" alike."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def _text(path: Path, key: str, value: Any, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise ConfigError(f"{path}: missing required key {key!r}")
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key!r} must be a string, not {type(value).__name__}")
    if required and not value.strip():
        raise ConfigError(f"{path}: {key!r} is empty")
    return value.strip()


def parse_ctgov(path: Path, where: str, table: Any) -> dict[str, str]:
    """ClinicalTrials.gov search parameters of a topic line or a claim check, validated; a status list becomes the
    comma-separated form the API takes. `where` names the table in messages."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    params = {}
    for key, value in _flatten(table).items():
        if key not in CTGOV_KEYS:
            raise ConfigError(f"{path}: {where} unknown parameter {key!r} (allowed: {', '.join(CTGOV_KEYS)})")
        if key == "filter.overallStatus" and isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{path}: {where} 'filter.overallStatus' must list strings")
            value = ",".join(value)
        params[key] = _text(path, f"ctgov.{key}", value)
    if not any(k.startswith("query.") for k in params):
        raise ConfigError(f"{path}: {where} needs at least one query.* parameter")
    return params


def parse_query(path: Path, data: dict[str, Any]) -> Query:
    unknown = sorted(set(data) - QUERY_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(QUERY_KEYS))})")
    name = _text(path, "name", data.get("name"))
    if not NAME_RE.match(name):
        raise ConfigError(f"{path}: name {name!r} must be lower-case letters, digits, '-' or '_' (at most 64)")
    title = _text(path, "title", data.get("title"))
    description = _text(path, "description", data.get("description"), required=False) or ""

    ctgov = parse_ctgov(path, "[ctgov]", data["ctgov"]) if "ctgov" in data else None

    pubmed_term = None
    if "pubmed" in data:
        if not isinstance(data["pubmed"], dict):
            raise ConfigError(f"{path}: [pubmed] must be a table")
        extra = sorted(set(data["pubmed"]) - {"term"})
        if extra:
            raise ConfigError(f"{path}: [pubmed] unknown key {extra[0]!r} (allowed: term)")
        pubmed_term = _text(path, "pubmed.term", data["pubmed"].get("term"))

    if ctgov is None and pubmed_term is None:
        raise ConfigError(f"{path}: needs a [ctgov] table, a [pubmed] table, or both")
    return Query(name=name, title=title, description=description, ctgov=ctgov, pubmed_term=pubmed_term, path=str(path))


def load_queries(directory: Path) -> list[Query]:
    """Every topic line in directory/*.toml (claims.toml excepted), validated; any problem raises ConfigError."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError(f"query directory {directory} does not exist")
    queries: list[Query] = []
    seen: dict[str, str] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name == "claims.toml":
            continue
        query = parse_query(path, read_toml(path))
        if query.name in seen:
            raise ConfigError(f"{path}: name {query.name!r} is already used by {seen[query.name]}")
        seen[query.name] = str(path)
        queries.append(query)
    if not queries:
        raise ConfigError(f"no topic lines (*.toml) in {directory}")
    return queries


T = TypeVar("T")


def pick(items: list[T], names: tuple[str, ...] | list[str], *, key: Callable[[T], str], what: str) -> list[T]:
    """The items named, in the order named (all when none are); an unknown name is a ConfigError listing the known."""
    if not names:
        return items
    known = {key(item): item for item in items}
    missing = [n for n in names if n not in known]
    if missing:
        raise ConfigError(f"unknown {what} {missing[0]!r} (known: {', '.join(known)})")
    return [known[n] for n in names]


def select_queries(queries: list[Query], names: tuple[str, ...] | list[str]) -> list[Query]:
    return pick(queries, names, key=lambda q: q.name, what="topic line")
