"""`python -m bench.links`: how many trial-paper links each channel finds, measured on the real recordings (every
recorded CT.gov study, PubMed article, ISRCTN trial and Europe PMC record, saved as an update saves them), for the
README's link table. A count, not a timing: the channels are the evidence a reader gets, the figure is what each adds.

Europe PMC's full-text channel needs the Annotations API's answers: the recordings hold none that name a trial id,
so its links are reported as the records Europe PMC flags as carrying text-mined trial ids (what it would resolve)."""

from __future__ import annotations

import json
import sqlite3
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from tracker.sources.ctgov import parse_study
from tracker.sources.europepmc.api import TRIAL_TYPES, parse_result
from tracker.sources.isrctn.api import parse_who
from tracker.sources.pubmed import parse_pubmed_xml
from tracker.store import open_store, save_records

from .data import FIXTURES

NOW = datetime(2026, 12, 4, 6, 0, tzinfo=timezone.utc)


def recorded() -> dict[str, list]:
    studies: dict[str, object] = {}
    for path in sorted((FIXTURES / "ctgov" / "v2").glob("single/*.json")) + sorted((FIXTURES / "ctgov" / "v2").glob("search/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for study in data["studies"] if "studies" in data else [data]:
            trial = parse_study(study, json.dumps(study))
            studies.setdefault(trial.nct_id, trial)
    articles: dict[str, object] = {}
    for path in sorted((FIXTURES / "pubmed").rglob("*.xml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "<PubmedArticleSet" not in text:
            continue
        try:
            for pub in parse_pubmed_xml(text.encode("utf-8")):
                articles.setdefault(pub.pmid, pub)
        except Exception:  # noqa: BLE001  (a recording of an old DTD or an error page: not an article set here)
            continue
    works = {}
    for page in json.loads((FIXTURES / "europepmc" / "pyeuropepmc" / "fetch_10pages_cancer.json").read_text(encoding="utf-8")):
        for result in page["resultList"]["result"]:
            work = parse_result(result)
            works.setdefault(work.epmc_id, work)
    isrctn = parse_who((FIXTURES / "isrctn" / "kimmingul-ctreg" / "search-who.xml").read_bytes())
    return {"ctgov": list(studies.values()), "pubmed": list(articles.values()), "isrctn": isrctn, "europepmc": list(works.values())}


def main() -> None:
    records = recorded()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "links.db"
        with open_store(path) as store, store.transaction():
            for source, items in records.items():
                save_records(store, source, items, query="recordings", run_id=None, now=NOW)
        conn = sqlite3.connect(path)
        channels = conn.execute(
            "SELECT via, count(*), count(DISTINCT record_id), "
            "sum(EXISTS (SELECT 1 FROM identifiers i WHERE i.scheme = l.scheme AND i.value = l.value)) "
            "FROM links l WHERE scheme IN ('nct','pmid','isrctn','euct','eudract') GROUP BY via ORDER BY via").fetchall()
        conn.close()
    flagged = sum(1 for w in records["europepmc"] if TRIAL_TYPES & set(w.mined_types))
    print(f"Recordings: {', '.join(f'{len(v)} {k}' for k, v in records.items())} records\n")
    print("| channel | links | records naming | the other end stored |")
    print("|---|---:|---:|---:|")
    for via, links, naming, stored in channels:
        print(f"| {via} | {links} | {naming} | {stored} |")
    print(f"| europepmc_fulltext (Annotations API) | not recorded | {flagged} flagged with text-mined trial ids | |")


if __name__ == "__main__":
    main()
