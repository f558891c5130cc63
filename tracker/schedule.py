"""`tracker schedule`: an APScheduler 3.x BlockingScheduler that runs the update daily and the digest weekly.

Jobs open their own database and HTTP client (sqlite connections are bound to their thread) and take their window
from the database, so a missed run heals itself at the next one."""

from __future__ import annotations

import logging
import os
import re
import signal
from datetime import datetime
from typing import Callable

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, EVENT_SCHEDULER_STARTED, JobExecutionEvent
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger

from .errors import ConfigError, TrackerError
from .http import redact

log = logging.getLogger("tracker.schedule")

MISFIRE_GRACE = 12 * 3600  # a job up to 12 h late still runs (APScheduler's default of 1 s drops it silently)
CRON_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _cron_day_of_week(field: str) -> str:
    """Standard cron numbers days from Sunday = 0 (7 also Sunday); APScheduler from Monday = 0. Use names instead."""
    return re.sub(r"\d+", lambda m: CRON_DAYS[int(m.group())] if int(m.group()) <= 7 else m.group(), field)


def parse_cron(expression: str, timezone: str) -> CronTrigger:
    """A 5-field crontab line (minute hour day month day-of-week), or 6 fields with seconds first."""
    fields = expression.split()
    try:
        if len(fields) == 5:
            minute, hour, day, month, dow = fields
            return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_cron_day_of_week(dow), timezone=timezone)
        if len(fields) == 6:
            second, minute, hour, day, month, dow = fields
            return CronTrigger(
                second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=_cron_day_of_week(dow), timezone=timezone
            )
    except (ValueError, LookupError) as exc:
        raise ConfigError(f"invalid cron expression {expression!r}: {exc}") from None
    raise ConfigError(f"invalid cron expression {expression!r}: expected 5 fields (or 6 with seconds)")


def build_scheduler(
    jobs: list[tuple[str, str, Callable[[], object]]], *, timezone: str, scheduler: BaseScheduler | None = None,
    secrets: tuple[str, ...] = (),
) -> BaseScheduler:
    """jobs: (id, cron expression, callable). One instance of each at a time, late runs coalesced and kept."""
    scheduler = scheduler or BlockingScheduler(timezone=timezone)
    for job_id, expression, func in jobs:
        scheduler.add_job(
            func,
            parse_cron(expression, timezone),
            id=job_id,
            name=job_id,
            misfire_grace_time=MISFIRE_GRACE,
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )

    # APScheduler logs every failing job with its traceback; the listener below says it in one line instead (the
    # traceback of a bug only with TRACKER_DEBUG)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.CRITICAL)

    def on_event(event: JobExecutionEvent) -> None:
        if event.code == EVENT_JOB_ERROR:
            what = " ".join(str(event.exception).split())
            if not isinstance(event.exception, TrackerError):
                what = f"internal error: {type(event.exception).__name__}: {what}"
            log.error("job %s failed: %s; the scheduler keeps running", event.job_id, redact(what, secrets),
                      exc_info=(type(event.exception), event.exception, event.exception.__traceback__) if os.environ.get("TRACKER_DEBUG")
                      and not isinstance(event.exception, TrackerError) else None)
        else:
            log.warning("job %s missed its run at %s; the next run takes its window from the database", event.job_id, event.scheduled_run_time)

    scheduler.add_listener(on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    return scheduler


def next_runs(jobs: list[tuple[str, str, Callable[[], object]]], *, timezone: str, now: datetime) -> list[tuple[str, datetime | None]]:
    return [(job_id, parse_cron(expression, timezone).get_next_fire_time(None, now)) for job_id, expression, _ in jobs]


def run_forever(scheduler: BaseScheduler, announce: Callable[[], None] | None = None) -> None:
    """Start and block; SIGINT and SIGTERM stop it cleanly. Handlers go in before `announce` prints anything,
    so a supervisor that signals as soon as it sees output is obeyed."""
    stopping = []

    def stop(signum: int, frame: object) -> None:
        log.info("signal %s received: stopping the scheduler", signal.Signals(signum).name)
        stopping.append(signum)
        if scheduler.running:
            scheduler.shutdown(wait=False)

    def stop_if_asked_while_starting(event: object) -> None:
        if stopping:
            scheduler.shutdown(wait=False)

    scheduler.add_listener(stop_if_asked_while_starting, EVENT_SCHEDULER_STARTED)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if announce:
        announce()
    if not stopping:
        scheduler.start()
