"""The scheduler for real: APScheduler firing every second against a local server."""

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone

import pytest
from apscheduler.schedulers.blocking import BlockingScheduler

from tracker.jobs import scheduled_jobs
from tracker.errors import ConfigError
from tracker.schedule import build_scheduler, parse_cron
from tracker.settings import load_settings

from .conftest import ROOT, real_studies, write_query


def count(db, sql):
    try:
        conn = sqlite3.connect(db)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:
        return 0


def test_the_real_scheduler_runs_update_and_digest_and_survives_a_failing_job(env, settings, fake_ctgov, tmp_path):
    fake_ctgov.set_studies(real_studies()[:3])
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    configured = load_settings().with_overrides(update_cron="* * * * * *", digest_cron="*/2 * * * * *")
    boom_calls = []

    def boom():
        boom_calls.append(time.monotonic())
        raise RuntimeError("a job that raises")

    jobs = scheduled_jobs(configured) + [("boom", "* * * * * *", boom)]
    scheduler = build_scheduler(jobs, timezone="UTC", scheduler=BlockingScheduler(timezone="UTC"))
    thread = threading.Thread(target=scheduler.start, daemon=True)
    thread.start()
    db = env["TRACKER_DB"]
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            if count(db, "SELECT count(*) FROM runs WHERE status = 'ok'") >= 1 and count(db, "SELECT count(*) FROM digests") >= 1 and len(boom_calls) >= 3:
                break
            time.sleep(0.2)
    finally:
        scheduler.shutdown(wait=True)
        thread.join(5)
    assert count(db, "SELECT count(*) FROM trials") == 3
    assert count(db, "SELECT count(*) FROM digests") >= 1
    assert len(boom_calls) >= 3  # still firing after raising
    assert count(db, "SELECT count(*) FROM runs WHERE status = 'running'") == 0


def test_cron_days_are_read_as_crontab_numbers_sunday_zero():
    after = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)  # a Tuesday
    assert parse_cron("0 7 * * 1", "UTC").get_next_fire_time(None, after).strftime("%a %H:%M") == "Mon 07:00"
    assert parse_cron("0 7 * * 0", "UTC").get_next_fire_time(None, after).strftime("%a") == "Sun"
    assert parse_cron("0 7 * * 1-5", "UTC").get_next_fire_time(None, after).strftime("%a") == "Wed"
    with pytest.raises(ConfigError, match="invalid cron expression 'every day'"):
        parse_cron("every day", "UTC")
    with pytest.raises(ConfigError, match="invalid cron expression '99 \\* \\* \\* \\*'"):
        parse_cron("99 * * * *", "UTC")


def test_schedule_command_prints_next_runs_and_stops_cleanly_on_sigterm(env, settings):
    write_query(settings.queries_dir, "line", ctgov={"query.cond": "alopecia"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "schedule", "--update-cron", "0 6 * * *", "--digest-cron", "0 7 * * 1"],
        env={**os.environ, **env, "TRACKER_NOW": "2026-11-24T12:00:00Z"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert lines == ["update: next run 2026-11-25T06:00:00+00:00\n", "digest: next run 2026-11-30T07:00:00+00:00\n"]
    assert proc.returncode == 0 and "scheduler stopped" in out


def test_a_failing_job_is_one_log_line_without_apschedulers_traceback(caplog):
    from tracker.errors import TrackerError

    def failing():
        raise TrackerError("PubMed: esearch.fcgi failed after 4 attempts in 0s: HTTP 503 (key=SECRETKEY1)")

    scheduler = build_scheduler([("update", "* * * * * *", failing)], timezone="UTC", scheduler=BlockingScheduler(timezone="UTC"),
                                secrets=("SECRETKEY1",))
    thread = threading.Thread(target=scheduler.start, daemon=True)
    with caplog.at_level("INFO"):
        thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any("job update failed" in r.getMessage() for r in caplog.records):
            time.sleep(0.1)
        scheduler.shutdown(wait=True)
        thread.join(5)
    failures = [r for r in caplog.records if "job update failed" in r.getMessage()]
    assert failures and failures[0].exc_info is None and "SECRETKEY1" not in failures[0].getMessage()
    assert not [r for r in caplog.records if r.name.startswith("apscheduler.executors") and r.levelname == "ERROR"]
