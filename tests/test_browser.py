"""The HTML digest and `tracker serve` in a real browser: headless Chromium loads them at a phone's and a desktop's
width, dumps the DOM it rendered and takes screenshots. Skipped when Chromium is absent (`.ci/run` installs it)."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tracker.cli import cli

from .conftest import real_studies, write_query
from .test_pubmed import real_articles

pytestmark = pytest.mark.browser

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
# As the machine's notes advise: no background networking (this machine has no internet), a fresh profile per run.
# --allow-file-access-from-files lets the measuring page read the digest's layout inside its iframe.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars", "--allow-file-access-from-files"]
WIDTHS = (390, 1280)
# Headless windows lay out --dump-dom pages at 500 px at least, so the page is measured in an iframe of the exact width.
MEASURE = """<!DOCTYPE html><html><body style="margin:0"><iframe id="f" src="{src}" style="border:0;width:{width}px;height:900px"></iframe>
<script>document.getElementById('f').addEventListener('load', e => document.body.setAttribute('data-scroll-width',
  e.target.contentDocument.documentElement.scrollWidth));</script></body></html>"""


def chromium(tmp_path: Path, url: str, *, width: int, screenshot: Path | None = None) -> str:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    profile = tmp_path / f"profile-{width}-{time.monotonic_ns()}"
    args = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900"]
    args += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
    done = subprocess.run([*args, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def digested(env, settings, fake_ctgov, fake_pubmed):
    fake_ctgov.set_studies(real_studies())
    fake_pubmed.articles = real_articles()[:25]
    write_query(settings.queries_dir, "hair-restoration", ctgov={"query.cond": "alopecia"}, pubmed="hair AND stem cells", prefix="1-")
    write_query(settings.queries_dir, "stem-cell-trials", ctgov={"query.term": "stem"}, prefix="2-")
    run = CliRunner().invoke(cli, ["run", "--format", "all"], env={**env, "TRACKER_NOW": "2026-11-23T06:00:00Z"})
    assert run.exit_code == 0, run.output
    return {"env": env, "settings": settings, "html": settings.reports_dir / "digest-2026-11-23.html"}


@pytest.mark.parametrize("width", WIDTHS)
def test_the_html_digest_renders_its_title_and_sections_and_fits_the_screen(digested, tmp_path, width):
    page = digested["html"]
    dom = chromium(tmp_path, page.as_uri(), width=width)
    assert "<title>Baseline digest to 2026-11-23: stem-cell approaches to hair loss</title>" in dom
    assert "<h1>Stem-cell approaches to hair loss: baseline digest to 2026-11-23</h1>" in dom
    for heading in ("<h2>Baseline</h2>", "<h2>Needs attention</h2>", "<h2>Line hair-restoration</h2>", "<h3>New trials (", "<h3>New publications ("):
        assert heading in dom
    measure = page.parent / "measure.html"
    measure.write_text(MEASURE.format(src=page.name, width=width), encoding="utf-8")
    measured = chromium(tmp_path, measure.as_uri(), width=max(width, 1280))
    scroll_width = int(measured.split('data-scroll-width="', 1)[1].split('"', 1)[0])
    assert scroll_width <= width, f"the page is {scroll_width} px wide in a {width} px window: it scrolls sideways"
    shot = tmp_path / f"digest-{width}.png"
    chromium(tmp_path, page.as_uri(), width=width, screenshot=shot)
    assert png_size(shot) == (width, 900) and shot.stat().st_size > 20_000  # a blank page compresses to a few kB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(digested):
    port = free_port()
    env = {**os.environ, **digested["env"]}
    process = subprocess.Popen([sys.executable, "-m", "tracker", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(base + "/-/versions.json", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail("tracker serve did not answer: " + (process.stdout.read() if process.poll() is not None else ""))
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("width", WIDTHS)
def test_the_datasette_trials_page_renders_facets_search_and_readable_lists(server, tmp_path, width):
    dom = chromium(tmp_path, server + "/tracker/trials", width=width)
    assert "<title>tracker: trials:" in dom
    assert "One row per registered trial returned by a topic line." in dom
    for facet in ("overall_status", "phases", "study_type", "topic_lines"):
        assert f'id="facet-{facet}"' in dom
    assert "hair-restoration" in dom and 'name="_search"' in dom
    cells = dom.split('<table class="rows-and-columns">', 1)[1]
    assert 'class="col-conditions' in cells and "[&quot;" not in cells and '["' not in cells
    shot = tmp_path / f"trials-{width}.png"
    chromium(tmp_path, server + "/tracker/trials", width=width, screenshot=shot)
    assert png_size(shot) == (width, 900) and shot.stat().st_size > 20_000


@pytest.mark.parametrize("width", WIDTHS)
def test_a_datasette_trial_page_shows_its_history_links_signals_and_lines_in_a_browser(server, digested, tmp_path, width):
    import sqlite3

    conn = sqlite3.connect(digested["env"]["TRACKER_DB"])
    [(nct,)] = conn.execute("SELECT record_id FROM signals WHERE record_id LIKE 'NCT%' AND resolved_at IS NULL ORDER BY record_id LIMIT 1")
    dom = chromium(tmp_path, f"{server}/tracker/trials/{nct}", width=width)
    for heading in ("Other registrations of this study", "History", "Linked records", "Evidence signals", "Topic lines"):
        assert f"<h2>{heading}</h2>" in dom
    signals = dom.split("<h2>Evidence signals</h2>", 1)[1].split("<h2>", 1)[0]
    assert "No open signal." not in signals and "<strong>" in signals
    assert "hair-restoration (since " in dom.split("<h2>Topic lines</h2>", 1)[1]
    shot = tmp_path / f"trial-{width}.png"
    chromium(tmp_path, f"{server}/tracker/trials/{nct}", width=width, screenshot=shot)
    assert png_size(shot) == (width, 900) and shot.stat().st_size > 20_000
