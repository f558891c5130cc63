"""Synthetic data cloned from the real recordings in ../shared/fixtures (TRACKER_FIXTURES): CT.gov studies and
PubMed articles with new IDs, served page by page, and word-mutated records for the full-scale search database."""

from __future__ import annotations

import json
import os
import random
import re
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("TRACKER_FIXTURES") or ROOT.parent / "shared" / "fixtures")
RECORD_RE = re.compile(r"<(PubmedArticle)>.*?</\1>", re.DOTALL)
PMID_RE = re.compile(r"<PMID Version=\"\d+\">(\d+)</PMID>")
EFETCH_HEAD = (
    '<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
OLD_DATE = "2026-01-05"
NEW_DATE = "2026-11-23"


REAL_STUDIES = 300_000  # every recorded study but one: its 778 kB (results of a large trial) would be half of each cycle's bytes


@lru_cache(maxsize=2)
def study_templates(max_size: int = 20_000) -> list[tuple[str, str]]:
    """(compact JSON, its NCT id) of every real v2 study under max_size characters. REAL_STUDIES, for the ingest,
    parsing and write benches, keeps 41 of the 42 recorded (studies with posted results are the large ones: mean
    17.7 kB, median 5.5 kB); the default 20 kB, for the full-scale search database, keeps the 34 smallest."""
    seen, out = set(), []
    base = FIXTURES / "ctgov" / "v2"
    for path in sorted(base.glob("single/*.json")) + sorted(base.glob("search/*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        for study in data["studies"] if "studies" in data else [data]:
            nct = study["protocolSection"]["identificationModule"]["nctId"]
            status = study["protocolSection"].setdefault("statusModule", {})
            status["lastUpdatePostDateStruct"] = {"date": OLD_DATE, "type": "ACTUAL"}
            text = json.dumps(study, separators=(",", ":"))
            if nct not in seen and len(text) < max_size:
                seen.add(nct)
                out.append((text, nct))
    return out


@lru_cache(maxsize=2)
def article_templates(max_size: int | None = 12_000) -> list[tuple[str, str]]:
    """(XML, PMID) of real PubmedArticle elements (DTD 2019+), under max_size characters (None: every one, real size)."""
    seen, out = set(), []
    for path in sorted((FIXTURES / "pubmed").rglob("*.xml")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if "<PubmedArticleSet" not in text[:4000] or not any(f"pubmed_{v}.dtd" in text[:600] for v in ("190101", "230101", "240101", "250101")):
            continue
        for match in RECORD_RE.finditer(text):
            article = match.group(0)
            pmid = PMID_RE.search(article)
            if pmid and pmid.group(1) not in seen and (max_size is None or len(article) < max_size):
                seen.add(pmid.group(1))
                out.append((article, pmid.group(1)))
    return out


def nct(i: int) -> str:
    return f"NCT9{i:07d}"


def pmid(i: int) -> str:
    return str(90_000_000 + i)


def study_page(start: int, size: int, total: int, changed: int = 0, only_changed: bool = False) -> bytes:
    """Studies start..start+size of `total`; the first `changed` carry a recent LastUpdatePostDate."""
    templates = study_templates(REAL_STUDIES)
    stop = min(start + size, changed if only_changed else total)
    parts = []
    for i in range(start, stop):
        text, orig = templates[i % len(templates)]
        text = text.replace(orig, nct(i))
        if i < changed:
            text = text.replace(OLD_DATE, NEW_DATE)
        parts.append(text)
    page = '{"studies":[' + ",".join(parts) + "]"
    if stop < (changed if only_changed else total):
        page += f',"nextPageToken":"{stop}"'
    if start == 0:
        page += f',"totalCount":{changed if only_changed else total}'
    return (page + "}").encode()


def article_batch(start: int, size: int, total: int) -> bytes:
    """Articles start..start+size of `total` as an efetch answer: every current-DTD recording at its real size
    (reference lists included), as the parsing bench uses them."""
    templates = article_templates(max_size=None)
    parts = []
    for i in range(start, min(start + size, total)):
        text, orig = templates[i % len(templates)]
        parts.append(text.replace(f">{orig}</PMID>", f">{pmid(i)}</PMID>", 1).replace(f'IdType="pubmed">{orig}<', f'IdType="pubmed">{pmid(i)}<'))
    return (EFETCH_HEAD + "\n".join(parts) + "\n</PubmedArticleSet>\n").encode()


# -- full-scale search corpus ----------------------------------------------------------------------

WORD_RE = re.compile(r"[A-Za-z][A-Za-z-]{2,}")


@lru_cache(maxsize=1)
def vocabulary() -> list[str]:
    """Words of the real recordings, most frequent first (for Zipf-like sampling)."""
    counts: dict[str, int] = {}
    for text, _ in study_templates():
        for w in WORD_RE.findall(text):
            counts[w] = counts.get(w, 0) + 1
    for text, _ in article_templates():
        for w in WORD_RE.findall(re.sub(r"<[^>]+>", " ", text)):
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts, key=lambda w: -counts[w])


def mutate(words: list[str], rng: random.Random, vocab: list[str], share: float = 0.4) -> str:
    """Replace a share of the words by vocabulary words drawn with a Zipf-like bias, so that term frequencies
    spread as in a real corpus instead of every template word sitting in 1/T of all documents."""
    n = len(vocab)
    out = []
    for w in words:
        if rng.random() < share:
            out.append(vocab[min(int(n * rng.random() ** 3), n - 1)])
        else:
            out.append(w)
    return " ".join(out)
