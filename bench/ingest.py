"""Ingest throughput and memory, each run in a child process (`python -m bench.ingest KIND WHO N URL`) so its peak RSS
is its own. KIND: trials | publications; WHO: floor | floor+fts (the floor plus an FTS5 index of the same searchable
text) | floor+wal (floor+fts written through SQLite's write-ahead log with synchronous=NORMAL, as the tracker writes
so that readers are never blocked by an update: every page is written twice, to the log and at the checkpoint) |
peer (what a user would otherwise write with the project's own packages: requests, Bio.Entrez for PubMed,
sqlite-utils) | tracker. Prints one JSON line."""

from __future__ import annotations

import gc
import io
import json
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
import sqlite_utils
from lxml import etree


TRIAL_TEXT = ("title", "official_title", "conditions", "interventions", "lead_sponsor")  # what the tracker indexes
ARTICLE_TEXT = ("title", "abstract", "mesh_terms", "authors")


def _index(conn: sqlite3.Connection, table: str, columns: tuple[str, ...]) -> None:
    """FTS5 over the same text the tracker indexes, built the cheapest way: one 'rebuild' of an external-content
    index over the loaded table, after every row is in."""
    conn.execute(f"CREATE VIRTUAL TABLE {table}_fts USING fts5({', '.join(columns)}, content='{table}', tokenize='porter')")
    conn.execute(f"INSERT INTO {table}_fts ({table}_fts) VALUES ('rebuild')")


def _trial_text(protocol: dict) -> tuple:
    ident = protocol["identificationModule"]
    return (ident.get("officialTitle"), "; ".join(protocol.get("conditionsModule", {}).get("conditions", [])),
            "; ".join(f"{i.get('type')}: {i.get('name')}" for i in protocol.get("armsInterventionsModule", {}).get("interventions", [])),
            protocol.get("sponsorCollaboratorsModule", {}).get("leadSponsor", {}).get("name"))


def _connect(db: Path, wal: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(db)
    if wal:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def floor_trials(url: str, db: Path, fts: bool, wal: bool = False) -> int:
    """Download every page, decode each study with raw_decode (its own text kept as the payload, as the tracker keeps
    it, with no second serialisation), executemany the rows into one bare table in one transaction. With fts, also
    the rest of the searchable text and an FTS5 index of it."""
    session = requests.Session()
    conn = _connect(db, wal)
    text_columns = ", official_title TEXT, conditions TEXT, interventions TEXT, lead_sponsor TEXT" if fts else ""
    conn.execute(f"CREATE TABLE t (nct_id TEXT PRIMARY KEY, title TEXT, status TEXT, raw_json TEXT{text_columns})")
    insert = f"INSERT INTO t VALUES (?, ?, ?, ?{', ?, ?, ?, ?' if fts else ''})"
    decode = json.JSONDecoder().raw_decode
    token, n = None, 0
    conn.execute("BEGIN")
    while True:
        params = {"query.term": "x", "pageSize": "1000", "format": "json", **({"pageToken": token} if token else {})}
        text = session.get(url + "/studies", params=params, timeout=60).content.decode()
        i, rows = text.index("[", text.index('"studies"')) + 1, []  # CT.gov pages open with "studies"
        while True:
            while text[i] in " \n\r\t,":
                i += 1
            if text[i] == "]":
                break
            s, end = decode(text, i)
            protocol = s["protocolSection"]
            ident = protocol["identificationModule"]
            row = (ident["nctId"], ident.get("briefTitle"), protocol.get("statusModule", {}).get("overallStatus"), text[i:end])
            rows.append(row + _trial_text(protocol) if fts else row)
            i = end
        token = json.loads("{" + text[i + 1:].lstrip(" \n\r\t,")).get("nextPageToken")  # the keys after the studies
        conn.executemany(insert, rows)
        n += len(rows)
        if not token or not rows:
            break
    if fts:
        _index(conn, "t", TRIAL_TEXT)
    conn.execute("COMMIT")
    conn.close()
    return n


def _article_text(a: etree._Element) -> tuple:
    abstract = " ".join("".join(x.itertext()) for x in a.iterfind("MedlineCitation/Article/Abstract/AbstractText"))
    mesh = "; ".join(d.text or "" for d in a.iterfind("MedlineCitation/MeshHeadingList/MeshHeading/DescriptorName"))
    authors = "; ".join(f"{x.findtext('LastName')} {x.findtext('Initials')}" for x in a.iterfind("MedlineCitation/Article/AuthorList/Author"))
    return abstract or None, mesh or None, authors or None


def _records(body: bytes) -> dict[bytes, bytes]:
    """Each article's own XML as received, by PMID: bytes.find from tag to tag (cheaper than lxml's tostring of every
    article, which an earlier floor used; the tracker cuts its raw records the same way)."""
    records, start = {}, body.find(b"<PubmedArticle>")
    while start != -1:
        end = body.index(b"</PubmedArticle>", start) + len(b"</PubmedArticle>")
        pmid = body.index(b">", body.index(b"<PMID", start)) + 1
        records[body[pmid:body.index(b"<", pmid)]] = body[start:end]
        start = body.find(b"<PubmedArticle>", end)
    return records


def floor_publications(url: str, db: Path, total: int, batch: int, fts: bool, wal: bool = False) -> int:
    """esearch once, efetch every batch, parse it with lxml (the fastest tree build) and cut each article's XML from
    the body, executemany (pmid, title, xml) in one transaction. With fts, also the abstract, MeSH terms and authors
    and an FTS5 index of them."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, load_dtd=False)
    session = requests.Session()
    session.post(url + "/esearch.fcgi", data={"db": "pubmed", "term": "x", "usehistory": "y"}, timeout=60).content
    conn = _connect(db, wal)
    conn.execute(f"CREATE TABLE p (pmid TEXT PRIMARY KEY, title TEXT, raw_xml TEXT{', abstract TEXT, mesh_terms TEXT, authors TEXT' if fts else ''})")
    insert = f"INSERT INTO p VALUES (?, ?, ?{', ?, ?, ?' if fts else ''})"
    conn.execute("BEGIN")
    n = 0
    for start in range(0, total, batch):
        body = session.post(url + "/efetch.fcgi", data={"db": "pubmed", "WebEnv": "MCID_bench", "query_key": "1", "retstart": start,
                                                         "retmax": batch, "retmode": "xml"}, timeout=60).content
        root, raw = etree.fromstring(body, parser), _records(body)
        rows = []
        for a in root.iter("PubmedArticle"):
            pmid = a.findtext("MedlineCitation/PMID")
            rows.append((pmid, "".join(a.find("MedlineCitation/Article/ArticleTitle").itertext()), raw[pmid.encode()].decode())
                        + (_article_text(a) if fts else ()))
        conn.executemany(insert, rows)
        n += len(rows)
    if fts:
        _index(conn, "p", ARTICLE_TEXT)
    conn.execute("COMMIT")
    conn.close()
    return n


def peer_trials(url: str, db: Path) -> int:
    """The peer a user would write: each page by `response.json()`, the same searchable fields and the study
    re-serialised as its payload, sqlite-utils `upsert_all` (so that a second run updates), then `enable_fts` over the
    same text. sqlite-utils commits each chunk it writes, as it does for anyone who calls it this way."""
    session = requests.Session()
    table = sqlite_utils.Database(db)["t"]
    token, n = None, 0
    while True:
        params = {"query.term": "x", "pageSize": "1000", "format": "json", **({"pageToken": token} if token else {})}
        page = session.get(url + "/studies", params=params, timeout=60).json()
        rows = []
        for study in page["studies"]:
            protocol = study["protocolSection"]
            ident = protocol["identificationModule"]
            rows.append({"nct_id": ident["nctId"], "title": ident.get("briefTitle"), "status": protocol.get("statusModule", {}).get("overallStatus"),
                         "raw_json": json.dumps(study), **dict(zip(TRIAL_TEXT[1:], _trial_text(protocol)))})
        table.upsert_all(rows, pk="nct_id")
        n += len(rows)
        token = page.get("nextPageToken")
        if not token or not rows:
            break
    table.enable_fts(list(TRIAL_TEXT), tokenize="porter")
    table.db.close()
    return n


def peer_publications(url: str, db: Path, total: int, batch: int) -> int:
    """The peer a user would write with Biopython: esearch once, efetch every batch, `Entrez.read` (the DTD-driven
    reader NCBI's own tutorial uses), the same fields from its dicts and each article's XML cut as the floor cuts it,
    sqlite-utils `upsert_all`, then `enable_fts` over the same text."""
    from Bio import Entrez

    session = requests.Session()
    session.post(url + "/esearch.fcgi", data={"db": "pubmed", "term": "x", "usehistory": "y"}, timeout=60).content
    table = sqlite_utils.Database(db)["p"]
    n = 0
    for start in range(0, total, batch):
        body = session.post(url + "/efetch.fcgi", data={"db": "pubmed", "WebEnv": "MCID_bench", "query_key": "1", "retstart": start,
                                                         "retmax": batch, "retmode": "xml"}, timeout=60).content
        raw, rows = _records(body), []
        for article in Entrez.read(io.BytesIO(body), validate=False)["PubmedArticle"]:
            citation = article["MedlineCitation"]
            fields = citation["Article"]
            pmid = str(citation["PMID"])
            rows.append({
                "pmid": pmid, "title": str(fields["ArticleTitle"]), "raw_xml": raw[pmid.encode()].decode(),
                "abstract": " ".join(map(str, fields.get("Abstract", {}).get("AbstractText", []))) or None,
                "mesh_terms": "; ".join(str(m["DescriptorName"]) for m in citation.get("MeshHeadingList", [])) or None,
                "authors": "; ".join(f"{a.get('LastName')} {a.get('Initials')}" for a in fields.get("AuthorList", [])) or None,
            })
        table.upsert_all(rows, pk="pmid")
        n += len(rows)
    table.enable_fts(list(ARTICLE_TEXT), tokenize="porter")
    table.db.close()
    return n


def tracker_ingest(kind: str, url: str, db: Path) -> int:
    from tracker.http import HttpClient
    from tracker.models import Query
    from tracker.settings import Settings
    from tracker.sources import SOURCES
    from tracker.store import open_store
    from tracker.update import update_line

    if kind == "trials":
        settings = Settings(ctgov_url=url, ctgov_rate=0, ncbi_rate=0, db_path=db)
        query, source = Query(name="bench", title="bench", description="", params={"ctgov": {"query.term": "x"}}), SOURCES["ctgov"]
    else:
        settings = Settings(eutils_url=url, ctgov_rate=0, ncbi_rate=0, db_path=db, ncbi_email="bench@example.org")
        query, source = Query(name="bench", title="bench", description="", params={"pubmed": {"term": "x"}}), SOURCES["pubmed"]
    store = open_store(db)
    with HttpClient(settings) as client:
        result = update_line(store, client, settings, query, source, now=datetime(2026, 11, 24, tzinfo=timezone.utc))
    store.close()
    return result.fetched


def main() -> None:
    kind, who, n, url = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        if who == "tracker":  # imports are not part of the timed path (the floor's requests and lxml are imported above)
            import tracker.http, tracker.models, tracker.settings, tracker.sources, tracker.store, tracker.update  # noqa: F401,E401
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        if who in ("floor", "floor+fts", "floor+wal"):
            fts, wal = who != "floor", who == "floor+wal"
            gc.disable()  # the floor takes every shortcut: the tracker pauses the collector while it parses
            done = floor_trials(url, db, fts, wal) if kind == "trials" else floor_publications(url, db, n, 250, fts, wal)
            gc.enable()
        elif who == "peer":
            done = peer_trials(url, db) if kind == "trials" else peer_publications(url, db, n, 250)
        else:
            done = tracker_ingest(kind, url, db)
        seconds = time.perf_counter() - started
        size = db.stat().st_size
    print(json.dumps({"kind": kind, "who": who, "n": done, "seconds": seconds, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_before_mb": rss_before / 1024, "db_mb": size / 1e6}))


if __name__ == "__main__":
    main()
