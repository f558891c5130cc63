"""A search as a person runs it from the shell: `tracker search ...` in a fresh process (interpreter, imports,
opening the database, the search, printing), against the fastest a fresh process can do the same query (Python,
sqlite3 and a bare MATCH of every table searched) and against `sqlite-utils query` with FTS5's own ranking, the
command a user of sqlite-utils would type. `python -m bench.shell DB` prints the rows; `python -m bench` includes them."""

from __future__ import annotations

import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PASSES = 5  # each command's median; the commands take turns, so a slow minute of this machine falls on all of them
QUERIES = [("stem cell", "all"), ("alopecia", "all"), ("stem cell", "trials")]
ROOT = Path(__file__).resolve().parents[1]
PANDAS = importlib.util.find_spec("pandas") is not None  # the test extra installs it; the peer's sqlite-utils then imports it at start


def _script(name: str) -> str:
    """A console script of the running environment (bin/ beside the interpreter)."""
    found = Path(sys.executable).parent / name
    if not found.exists():
        raise SystemExit(f"bench: {found} not found; install the tracker into this environment (pip install -e .)")
    return str(found)


def _floor(path: Path, match: str, tables: list[str]) -> list[str]:
    from tracker.store import read_only_uri

    statements = "; ".join(f"c.execute('SELECT rowid FROM {t}_fts WHERE {t}_fts MATCH ? LIMIT 20', (m,)).fetchall()" for t in tables)
    code = f"import sqlite3; c = sqlite3.connect({read_only_uri(path)!r}, uri=True); m = {match!r}; {statements}"
    return [sys.executable, "-c", code]


def _timed(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command[:3])} ... failed: {done.stderr[-1000:]}")
    return took * 1000


def shell_search(path: Path) -> list[list[str]]:
    """Rows for the bench's table: each query's median wall time over PASSES, ours beside the floor and the peer."""
    from tracker.search import fts_query, searched_tables
    from tracker.store import RecordFilter

    # as on a user's machine: compiled bytecode written on the first run and read after (this machine's environment
    # sets PYTHONDONTWRITEBYTECODE, which would have every run compile the tracker from source)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "TRACKER_DB": str(path)}
    tracker, sqlite_utils = _script("tracker"), _script("sqlite-utils")
    rows = []
    for text, source in QUERIES:
        match = fts_query(text)
        commands = {"tracker": [tracker, "search", text, "--source", source],
                    "floor": _floor(path, match, searched_tables(source, RecordFilter()))}
        if source == "trials":
            commands["peer"] = [sqlite_utils, "query", str(path), "SELECT t.nct_id, t.title FROM trials_fts JOIN trials t ON t.rowid = trials_fts.rowid "
                                "WHERE trials_fts MATCH :q ORDER BY trials_fts.rank LIMIT 20", "-p", "q", match]
        times: dict[str, list[float]] = {name: [] for name in commands}
        for name, command in commands.items():  # warm the OS's page cache and the compiled bytecode
            _timed(command, env)
        for _ in range(PASSES):
            for name, command in commands.items():
                times[name].append(_timed(command, env))
        ours, floor = statistics.median(times["tracker"]), statistics.median(times["floor"])
        peer = f"`sqlite-utils query`, FTS5 rank: {statistics.median(times['peer']):.0f} ms" if "peer" in times else ""
        if PANDAS and peer:
            peer += " (pandas is installed here, and the peer's sqlite-utils imports it at start; a user's install has none)"
        rows.append([f"search from the shell: {text!r}, {source}", f"fresh process, median of {PASSES}",
                     f"{floor:.0f} ms (python + sqlite3, bare MATCH)", f"{ours:.0f} ms", f"{ours / floor:.1f}x", "", peer])
    return rows


if __name__ == "__main__":
    for row in shell_search(Path(sys.argv[1]).resolve()):
        print(" | ".join(row))
