"""Shared test fixtures: where the real recordings live, a settings object pointing at a local server,
and fake API servers (pytest-httpserver) that replay real recorded records."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tracker.settings import Settings

from .fakes import FakeCtgov, FakeCtis, FakeEuropePmc, FakeIsrctn, FakePubmed

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("TRACKER_FIXTURES") or ROOT.parent / "shared" / "fixtures")
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def fixture_path(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"recorded fixture {path} is absent (set TRACKER_FIXTURES to ../shared/fixtures)")
    return path


def load_json(*parts: str):
    return json.loads(fixture_path(*parts).read_text(encoding="utf-8"))


def real_studies() -> list[dict]:
    """Every distinct real v2 study in the recordings (single records and search pages)."""
    base = fixture_path("ctgov", "v2")
    studies: dict[str, dict] = {}
    for path in sorted(base.glob("single/*.json")) + sorted(base.glob("search/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for study in data.get("studies", [data]) if "studies" in data else [data]:
            nct = study["protocolSection"]["identificationModule"]["nctId"]
            studies.setdefault(nct, study)
    return list(studies.values())


@pytest.fixture(scope="session", autouse=True)
def template_cache_home(tmp_path_factory) -> Path:
    """Compiled templates go to a cache of the test session's own, not the user's ~/.cache."""
    home = tmp_path_factory.mktemp("cache-home")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


@pytest.fixture
def settings(tmp_path, httpserver) -> Settings:
    base = httpserver.url_for("/")
    return Settings(
        ctgov_url=base + "api/v2",
        eutils_url=base + "entrez/eutils",
        ctis_url=base + "ctis",
        isrctn_url=base + "isrctn",
        europepmc_url=base + "europepmc/webservices/rest",
        db_path=tmp_path / "tracker.db",
        reports_dir=tmp_path / "reports",
        queries_dir=tmp_path / "queries",
        ctgov_rate=0,
        ncbi_rate=0,
        ctis_rate=0,
        isrctn_rate=0,
        europepmc_rate=0,
        backoff_base=0,
        max_retries=3,
        read_timeout=5,
        connect_timeout=2,
    )


@pytest.fixture
def env(settings, monkeypatch) -> dict[str, str]:
    """Environment for CLI runs against the local server, with no pacing or backoff delays."""
    values = {
        "TRACKER_CTGOV_URL": settings.ctgov_url,
        "TRACKER_EUTILS_URL": settings.eutils_url,
        "TRACKER_CTIS_URL": settings.ctis_url,
        "TRACKER_ISRCTN_URL": settings.isrctn_url,
        "TRACKER_CTIS_RATE": "0",
        "TRACKER_ISRCTN_RATE": "0",
        "TRACKER_EUROPEPMC_URL": settings.europepmc_url,
        "TRACKER_EUROPEPMC_RATE": "0",
        "TRACKER_DB": str(settings.db_path),
        "TRACKER_REPORTS": str(settings.reports_dir),
        "TRACKER_QUERIES": str(settings.queries_dir),
        "TRACKER_CTGOV_RATE": "0",
        "TRACKER_NCBI_RATE": "0",
        "TRACKER_HTTP_BACKOFF": "0",
        "TRACKER_HTTP_RETRIES": "3",
        "TRACKER_READ_TIMEOUT": "5",
        "NCBI_EMAIL": "tests@example.org",
    }
    for key in ("NCBI_API_KEY", "TRACKER_NOW", "TRACKER_SMTP_HOST"):
        monkeypatch.delenv(key, raising=False)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def fake_ctgov(httpserver) -> FakeCtgov:
    fake = FakeCtgov(httpserver)
    fake.install()
    return fake


@pytest.fixture
def fake_pubmed(httpserver) -> FakePubmed:
    fake = FakePubmed(httpserver)
    fake.install()
    return fake


def real_ctis_overviews() -> list[dict]:
    """The recorded CTIS search overviews (two recordings, 8 trials)."""
    found: dict[str, dict] = {}
    for parts in (("ctis", "kimmingul-ctreg", "search.json"), ("ctis", "techbio", "search_endometriosis_page1.json")):
        for overview in load_json(*parts)["data"]:
            found.setdefault(overview["ctNumber"], overview)
    return list(found.values())


def real_isrctn_trials() -> list[str]:
    """The recorded ISRCTN WHO-format <trial> elements, as text (4 trials)."""
    import re

    text = fixture_path("isrctn", "kimmingul-ctreg", "search-who.xml").read_text(encoding="utf-8")
    return re.findall(r"<trial>.*?</trial>", text, flags=re.DOTALL)


ICTRP_EXPORT = ("ictrp", "machado-t-ICTRP_xml_to_ris", "ICTRP-Results(1).xml")


@pytest.fixture
def fake_ctis(httpserver) -> FakeCtis:
    fake = FakeCtis(httpserver)
    fake.install()
    return fake


def real_europepmc_pages() -> list[dict]:
    """The ten recorded consecutive Europe PMC /search pages (query=cancer, lite, 100 a page: 1,000 records)."""
    return load_json("europepmc", "pyeuropepmc", "fetch_10pages_cancer.json")


def real_europepmc_preprint() -> dict:
    """The recorded core record of a medRxiv preprint whose journal version is PMID 32678530 ("Preprint of")."""
    return load_json("europepmc", "pubmed-watch", "europepmc_preprint_record.json")["resultList"]["result"][0]


@pytest.fixture
def fake_europepmc(httpserver) -> FakeEuropePmc:
    fake = FakeEuropePmc(httpserver)
    fake.install()
    return fake


@pytest.fixture
def fake_isrctn(httpserver) -> FakeIsrctn:
    fake = FakeIsrctn(httpserver)
    fake.install()
    return fake


def invoke_cli(env: dict[str, str], *args: str, default_now: str | None = None):
    """A `tracker` command through click's runner with `env`; `default_now` pins the clock unless env already does."""
    from click.testing import CliRunner

    from tracker.cli import cli

    return CliRunner().invoke(cli, list(args), env={**({"TRACKER_NOW": default_now} if default_now else {}), **env})


def rows(db, sql: str, *params) -> list[tuple]:
    """What a query over the test database answers (its own connection, closed again)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def digest_md(env: dict[str, str], now: str) -> str:
    """A Markdown digest written at `now`, read back: the newest digest file of the report directory."""
    result = invoke_cli({**env, "TRACKER_NOW": now}, "digest", "--format", "md")
    assert result.exit_code == 0, result.output
    return max(Path(env["TRACKER_REPORTS"]).glob("digest-*.md"), key=lambda p: p.stat().st_mtime).read_text(encoding="utf-8")


def write_query(directory: Path, name: str, *, ctgov: dict | None = None, pubmed: str | None = None, prefix: str = "",
                short: str | None = None, **tables: dict) -> Path:
    """A topic line; `tables` adds any other source's table (ctis={...}, isrctn={"q": ...})."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = [f'name = "{name}"', f'title = "Line {name}"', 'description = "test line"'] + ([f"short = {json.dumps(short)}"] if short else [])
    if ctgov:
        lines.append("[ctgov]")
        lines += [f'"{k}" = {json.dumps(v)}' for k, v in ctgov.items()]
    if pubmed:
        lines += ["[pubmed]", f"term = {json.dumps(pubmed)}"]
    for source, table in tables.items():
        lines.append(f"[{source}]")
        lines += [f'"{k}" = {json.dumps(v)}' for k, v in table.items()]
    path = directory / f"{prefix}{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def threaded_server():
    """One threaded local server for the session (the plugin's default is single-threaded), so a slow or blocked
    answer does not hold up the requests that follow it."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def httpserver(threaded_server):
    yield threaded_server
    threaded_server.clear()
