"""SQL for what the store derives from its own tables: a record's topic lines (its topic_lines column) and each
line's records per year (line_years). Shared by the migrations that backfilled them and the writes that keep them
current; apart from migrations.py, which loads sqlite-utils, so that the writes' module does not."""

from __future__ import annotations

LINE_YEARS_BACKFILL = """
INSERT INTO line_years (query, source, year, first_seen_at, n)
SELECT m.query, 'pubmed', coalesce(p.pub_year, 0), p.first_seen_at, count(*)
  FROM query_matches m JOIN publications p ON p.pmid = m.record_id WHERE m.source = 'pubmed'
 GROUP BY m.query, coalesce(p.pub_year, 0), p.first_seen_at
UNION ALL
SELECT m.query, 'ctgov', coalesce(CAST(substr(t.start_date, 1, 4) AS INTEGER), 0), t.first_seen_at, count(*)
  FROM query_matches m JOIN trials t ON t.nct_id = m.record_id WHERE m.source = 'ctgov'
 GROUP BY m.query, coalesce(CAST(substr(t.start_date, 1, 4) AS INTEGER), 0), t.first_seen_at
"""


def topic_lines_sql(source: str, record: str, plus: str | None = None) -> str:
    """SQL: the topic lines that return a record today, as a sorted JSON list (the value of topic_lines); with
    `plus`, that line too (a save computing the list before it writes the line's match)."""
    lines = f"SELECT query FROM query_matches WHERE source = '{source}' AND record_id = {record} AND unmatched_at IS NULL"
    if plus:
        lines += f" UNION SELECT {plus}"
    return f"(SELECT json_group_array(query) FROM ({lines} ORDER BY query))"
