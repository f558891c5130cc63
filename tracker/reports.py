"""Claims reports (reports/claims-DATE.md and .html): pure rendering plus the file write."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from .digest import template_environment, write_text_atomic


def render_claims(results, *, now: datetime, html: bool) -> str:
    template = "claims.html.j2" if html else "claims.md.j2"
    return template_environment(html).get_template(template).render(results=results, checked=now.strftime("%Y-%m-%d %H:%M UTC"))


def write_claims_report(results, reports_dir: Path, *, now: datetime) -> list[Path]:
    reports_dir.mkdir(parents=True, exist_ok=True)
    stem = reports_dir / f"claims-{now.date().isoformat()}"
    return [
        write_text_atomic(stem.with_suffix(".md"), render_claims(results, now=now, html=False)),
        write_text_atomic(stem.with_suffix(".html"), render_claims(results, now=now, html=True)),
    ]
