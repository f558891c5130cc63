"""The full-scale database for search and digest: 600,000 trials and 1,000,000 publications (raw payloads dropped),
built through the tracker's own schema and text index (store.save_text_index) from word-mutated real records."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

from . import data

LINES = [f"line-{i}" for i in range(10)]
STATUSES = ["RECRUITING", "COMPLETED", "NOT_YET_RECRUITING", "ACTIVE_NOT_RECRUITING", "TERMINATED", "WITHDRAWN", "UNKNOWN"]
PHASES = [["PHASE1"], ["PHASE2"], ["PHASE3"], ["PHASE1", "PHASE2"], ["NA"], ["PHASE4"], []]
TYPES = [["Journal Article"], ["Randomized Controlled Trial", "Journal Article"], ["Review", "Journal Article"], ["Meta-Analysis"]]
OLD = "2025-06-01T00:00:00Z"


def _words(text: str) -> list[str]:
    return re.findall(r"\S+", text)


def _pools(rng: random.Random, trials_pool: int, pubs_pool: int):
    vocab = data.vocabulary()
    studies = [json.loads(t) for t, _ in data.study_templates()]
    trial_variants = []
    for i in range(trials_pool):
        p = studies[i % len(studies)]["protocolSection"]
        ident = p["identificationModule"]
        conds = p.get("conditionsModule", {}).get("conditions", [])
        intr = [f"{x.get('type')}: {x.get('name')}" for x in p.get("armsInterventionsModule", {}).get("interventions", [])]
        trial_variants.append((
            data.mutate(_words(ident.get("briefTitle", "")), rng, vocab, 0.3),
            data.mutate(_words(ident.get("officialTitle", "") or ""), rng, vocab, 0.3),
            json.dumps([data.mutate(_words(c), rng, vocab, 0.3) for c in conds]),
            json.dumps(intr),
            p.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {}).get("name"),
        ))
    articles = data.article_templates()
    pub_variants = []
    for i in range(pubs_pool):
        xml = articles[i % len(articles)][0]
        title = re.sub(r"<[^>]+>", "", (re.search(r"<ArticleTitle>(.*?)</ArticleTitle>", xml, re.S) or [None, ""])[1])
        abstract = " ".join(re.sub(r"<[^>]+>", " ", a) for a in re.findall(r"<AbstractText[^>]*>(.*?)</AbstractText>", xml, re.S))
        mesh = re.findall(r"<DescriptorName[^>]*>(.*?)</DescriptorName>", xml)
        authors = [f"{a} {b}" for a, b in re.findall(r"<LastName>(.*?)</LastName>.*?<Initials>(.*?)</Initials>", xml, re.S)]
        journal = (re.search(r"<ISOAbbreviation>(.*?)</ISOAbbreviation>", xml) or [None, None])[1]
        pub_variants.append((
            data.mutate(_words(title), rng, vocab, 0.3),
            data.mutate(_words(abstract)[:220], rng, vocab, 0.3),
            json.dumps(authors[:12]),
            json.dumps(mesh),
            journal,
        ))
    return trial_variants, pub_variants


def build(path: Path, *, trials: int, publications: int, seed: int = 7) -> dict[str, float]:
    """Create the database at `path` and return build figures."""
    from tracker.store import KINDS, open_store, save_line_years_rebuilt, save_text_index

    rng = random.Random(seed)
    started = time.perf_counter()
    trial_variants, pub_variants = _pools(rng, 3000, 4000)
    store = open_store(path)
    conn = store.conn
    conn.execute("PRAGMA synchronous = OFF")
    trial_sql = (
        "INSERT INTO trials (nct_id, title, official_title, conditions, interventions, lead_sponsor, overall_status, phases, "
        "study_type, start_date, has_results, url, raw_json, raw_hash, first_seen_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'INTERVENTIONAL', ?, ?, ?, '', '', ?, ?)"
    )
    pub_sql = (
        "INSERT INTO publications (pmid, title, abstract, authors, mesh_terms, journal_abbrev, publication_types, pub_date, sort_date, "
        "pub_year, is_retracted, is_deleted, is_book, raw_xml, raw_hash, first_seen_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, '', '', ?, ?)"
    )
    match_sql = "INSERT INTO query_matches (query, source, record_id, first_seen_at) VALUES (?, ?, ?, ?)"
    chunk = 20_000
    for start in range(0, trials, chunk):
        rows, matches = [], []
        for i in range(start, min(start + chunk, trials)):
            t, ot, cond, intr, sponsor = trial_variants[(i * 7919) % len(trial_variants)]
            year = 2000 + (i * 31) % 27
            nct = data.nct(i)
            rows.append((nct, t, ot, cond, intr, sponsor, STATUSES[i % 7], json.dumps(PHASES[(i // 7) % 7]), f"{year}-{(i % 12) + 1:02d}",
                         int(i % 5 == 0), f"https://clinicaltrials.gov/study/{nct}", OLD, OLD))
            matches.append((LINES[i % 10], "ctgov", nct, OLD))
            if i % 4 == 0:
                matches.append((LINES[(i + 3) % 10], "ctgov", nct, OLD))
        with store.transaction():
            conn.executemany(trial_sql, rows)
            conn.executemany(match_sql, matches)
            save_text_index(store, KINDS["trials"], [row[0] for row in rows])
    for start in range(0, publications, chunk):
        rows, matches = [], []
        for i in range(start, min(start + chunk, publications)):
            t, ab, au, mesh, journal = pub_variants[(i * 7919) % len(pub_variants)]
            year = 1990 + (i * 13) % 37
            pm = data.pmid(i)
            rows.append((pm, t, ab, au, mesh, journal, json.dumps(TYPES[i % 4]), str(year), f"{year}-{(i % 12) + 1:02d}-01", year, OLD, OLD))
            matches.append((LINES[i % 10], "pubmed", pm, OLD))
        with store.transaction():
            conn.executemany(pub_sql, rows)
            conn.executemany(match_sql, matches)
            save_text_index(store, KINDS["publications"], [row[0] for row in rows])
    save_line_years_rebuilt(store)  # the rows went in around save_*, so the per-line counts are taken once here
    conn.execute("PRAGMA optimize")
    store.close()
    return {"seconds": time.perf_counter() - started, "db_mb": path.stat().st_size / 1e6}


def merge_as_updates_did(path: Path) -> dict[str, float]:
    """The text indexes as the updates that wrote them leave them over time: each update ends with one bounded merge
    step (store.save_merged_text_indexes), and a store whose weekly writes are small against its MERGE_PAGES has
    taken every step there was (the build wrote this database in a few large chunks, not in weeks): steps until one
    finds nothing to merge. Returns the steps taken and their seconds."""
    from tracker.store import open_store, save_merged_text_indexes

    store = open_store(path)
    started, steps = time.perf_counter(), 0
    while save_merged_text_indexes(store):
        steps += 1
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return {"updates": steps, "seconds": time.perf_counter() - started}


def add_week(path: Path, *, new_trials: int, changed_trials: int, new_pubs: int, when: str = "2026-11-20T06:00:00Z") -> None:
    """A week of activity: new trials, status changes of known trials, new publications, all matched to lines."""
    from tracker.store import KINDS, open_store, save_text_index

    store = open_store(path)
    conn = store.conn
    with store.transaction():
        base = 9_000_000
        for i in range(new_trials):
            nct = data.nct(base + i)
            conn.execute(
                "INSERT INTO trials (nct_id, title, overall_status, phases, start_date, has_results, countries, url, raw_json, raw_hash, "
                "first_seen_at, updated_at, lead_sponsor, enrollment, enrollment_type) VALUES (?, ?, 'RECRUITING', '[\"PHASE2\"]', '2026-10', 0, "
                "'[\"Japan\"]', ?, '', '', ?, ?, 'Sponsor', 40, 'ESTIMATED')",
                (nct, f"New trial {i} of autologous dermal papilla cells", f"https://clinicaltrials.gov/study/{nct}", when, when),
            )
            conn.execute("INSERT INTO query_matches (query, source, record_id, first_seen_at) VALUES (?, 'ctgov', ?, ?)", (LINES[i % 10], nct, when))
            conn.execute("INSERT INTO line_years (query, source, year, first_seen_at, n) VALUES (?, 'ctgov', 2026, ?, 1) ON CONFLICT DO UPDATE SET n = n + 1", (LINES[i % 10], when))
        for i in range(changed_trials):
            nct = data.nct(i * 97)
            conn.execute("INSERT INTO trial_changes (nct_id, field, old_value, new_value, detected_at, run_id) VALUES (?, 'overall_status', 'RECRUITING', 'COMPLETED', ?, 1)", (nct, when))
        for i in range(new_pubs):
            pm = str(80_000_000 + i)
            conn.execute(
                "INSERT INTO publications (pmid, title, authors, journal_abbrev, pub_date, sort_date, pub_year, publication_types, is_retracted, "
                "is_deleted, is_book, raw_xml, raw_hash, first_seen_at, updated_at) VALUES (?, ?, '[\"Doe J\", \"Roe R\", \"Poe P\", \"Loe L\"]', "
                "'J Hair', '2026 Nov', '2026-11-01', 2026, '[\"Randomized Controlled Trial\"]', 0, 0, 0, '', '', ?, ?)",
                (pm, f"New paper {i} on hair follicle stem cells", when, when),
            )
            conn.execute("INSERT INTO query_matches (query, source, record_id, first_seen_at) VALUES (?, 'pubmed', ?, ?)", (LINES[i % 10], pm, when))
            conn.execute("INSERT INTO line_years (query, source, year, first_seen_at, n) VALUES (?, 'pubmed', 2026, ?, 1) ON CONFLICT DO UPDATE SET n = n + 1", (LINES[i % 10], when))
        save_text_index(store, KINDS["trials"], [data.nct(base + i) for i in range(new_trials)])
        save_text_index(store, KINDS["publications"], [str(80_000_000 + i) for i in range(new_pubs)])
    store.close()


OTHER_SOURCES = {"ctis": 20_000, "isrctn": 30_000, "ictrp": 60_000, "europepmc": 150_000}  # at the trials' scale: CTIS and ISRCTN hold tens of thousands


def add_other_sources(path: Path, *, scale: float = 1.0, seed: int = 11) -> dict[str, int]:
    """The registries and Europe PMC beside CT.gov and PubMed, in their own tables and text indexes, from the same
    word-mutated records: search "all" reads six indexes, as a real database does."""
    from tracker.sources import SOURCES
    from tracker.store import KINDS, open_store, save_text_index

    rng = random.Random(seed)
    trial_variants, pub_variants = _pools(rng, 1500, 2000)
    store = open_store(path)
    conn = store.conn
    conn.execute("PRAGMA synchronous = OFF")
    counts = {}
    for name, n in OTHER_SOURCES.items():
        n = int(n * scale)
        counts[name] = n
        shape = SOURCES[name].shape
        for start in range(0, n, 20_000):
            rows, matches = [], []
            for i in range(start, min(start + 20_000, n)):
                rid = {"ctis": f"2024-5{i:05d}-12-00", "isrctn": f"ISRCTN{10_000_000 + i}", "ictrp": f"JPRN-jRCT{2_000_000_000 + i}",
                       "europepmc": f"PPR{100_000 + i}"}[name]
                if SOURCES[name].kind == "trial":
                    t, ot, cond, intr, sponsor = trial_variants[(i * 7919) % len(trial_variants)]
                    rows.append((rid, t, ot, cond, intr, sponsor, STATUSES[i % 7], json.dumps(PHASES[(i // 7) % 7]), f"{2010 + i % 16}-{(i % 12) + 1:02d}",
                                 int(i % 5 == 0), SOURCES[name].url(rid), OLD, OLD))
                else:
                    t, ab, au, mesh, journal = pub_variants[(i * 7919) % len(pub_variants)]
                    year = 2019 + i % 8
                    rows.append((rid, "PPR", t, ab, au, f"{year}-{(i % 12) + 1:02d}-01", year, 1, "bioRxiv", SOURCES[name].url(rid), OLD, OLD))
                matches.append((LINES[i % 10], name, rid, OLD))
            if SOURCES[name].kind == "trial":
                sql = (f"INSERT INTO {shape.table} (trial_id, title, official_title, conditions, interventions, lead_sponsor, overall_status, phases, "
                       "start_date, has_results, url, first_seen_at, updated_at, raw_json, raw_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '')")
            else:
                sql = (f"INSERT INTO {shape.table} (epmc_id, source_db, title, abstract, authors, sort_date, pub_year, is_preprint, preprint_server, url, "
                       "first_seen_at, updated_at, raw_json, raw_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', '')")
            with store.transaction():
                conn.executemany(sql, rows)
                conn.executemany("INSERT INTO query_matches (query, source, record_id, first_seen_at) VALUES (?, ?, ?, ?)", matches)
                save_text_index(store, KINDS[shape.table], [row[0] for row in rows])
    store.close()
    return counts
