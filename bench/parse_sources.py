"""`python -m bench.parse_sources`: the new sources' parsers against their floor, on the REAL recordings cloned to
real size: Europe PMC /search pages (json.loads of the same bytes), EU CTIS full records (json.loads), ISRCTN's WHO
XML and a WHO ICTRP export (lxml.etree.fromstring of the same bytes). Each floor builds the tree and reads nothing;
the tracker's contestant is its whole parse into records, as an update runs it. Median of 5 rounds, shuffled
(bench.parse's race)."""

from __future__ import annotations

import json
import re
import sys

from lxml import etree

from bench.parse import race, table


def europepmc_pages() -> list[bytes]:
    from tests.conftest import real_europepmc_pages

    pages = real_europepmc_pages()  # ten consecutive recorded pages of 100 results
    return [json.dumps(page).encode() for page in pages] * 5  # 5,000 records


def ctis_records() -> list[tuple[dict, bytes]]:
    from tests.conftest import load_json
    from tests.test_sources_contract import ctis_overview_of

    full = load_json("ctis", "kimmingul-ctreg", "retrieve.json")  # the one recorded full record, 165 kB
    return [(ctis_overview_of(full), json.dumps(full).encode())] * 200


def isrctn_body() -> bytes:
    from tests.conftest import real_isrctn_trials

    trials = real_isrctn_trials()
    return ("<trials>" + "".join(trials * 250) + "</trials>").encode()  # 1,000 trials


def ictrp_body() -> bytes:
    from tests.conftest import ICTRP_EXPORT, fixture_path

    text = fixture_path(*ICTRP_EXPORT).read_text(encoding="utf-8")
    trials = re.findall(r"<Trial>.*?</Trial>", text, flags=re.DOTALL)
    numbered = [t.replace("<TrialID>", f"<TrialID>X{i}-", 1) for i in range(10) for t in trials]  # 950 distinct records
    return ("<Trials_downloaded_from_ICTRP>" + "".join(numbered) + "</Trials_downloaded_from_ICTRP>").encode()


def europepmc_peer(pages: list[bytes], n: int):
    """The parse a pyeuropepmc user runs on a /search answer (its EuropePMCParser.parse_json of the decoded page: the
    result list checked, each result a dict as Europe PMC sent it), or None where pyeuropepmc is not installed."""
    try:
        from pyeuropepmc.features.literature.search_parser import EuropePMCParser  # 4.x
    except ImportError:
        try:
            from pyeuropepmc.processing.search_parser import EuropePMCParser  # 1.x
        except ImportError:
            return None
    from tracker.gc_pause import gc_paused

    def run() -> int:
        with gc_paused():
            for body in pages:
                EuropePMCParser.parse_json(json.loads(body))
        return n
    return run


def main() -> None:
    from tracker.gc_pause import gc_paused
    from tracker.sources.ctis.api import parse_retrieve, parse_trial
    from tracker.sources.europepmc.api import parse_result, parse_search
    from tracker.sources.ictrp.export import parse_export
    from tracker.sources.isrctn.api import parse_who

    pages, records, isrctn, ictrp = europepmc_pages(), ctis_records(), isrctn_body(), ictrp_body()
    n_epmc = sum(len(json.loads(p)["resultList"]["result"]) for p in pages)
    n_isrctn, n_ictrp = isrctn.count(b"<trial>"), len(parse_export(ictrp))

    def floor_json(bodies):
        def run() -> int:
            with gc_paused():
                for body in bodies:
                    json.loads(body)
            return len(bodies)
        return run

    def epmc() -> int:
        with gc_paused():
            for body in pages:
                for result in parse_search(body)["resultList"]["result"]:
                    parse_result(result)
        return n_epmc

    def epmc_floor() -> int:
        floor_json(pages)()
        return n_epmc

    def ctis() -> int:
        with gc_paused():
            for overview, body in records:
                parse_trial(overview, parse_retrieve(body))
        return len(records)

    def xml_floor(body: bytes, n: int):
        def run() -> int:
            with gc_paused():
                etree.fromstring(body)
            return n
        return run

    def isrctn_run() -> int:
        with gc_paused():
            parse_who(isrctn)
        return n_isrctn

    def ictrp_run() -> int:
        with gc_paused():
            parse_export(ictrp)
        return n_ictrp

    contestants = {"json.loads (floor)": epmc_floor, "tracker parse_search + parse_result": epmc}
    peer = europepmc_peer(pages, n_epmc)
    if peer:
        contestants["pyeuropepmc: json.loads + EuropePMCParser.parse_json (peer)"] = peer
    out = table(f"Europe PMC: {n_epmc:,} recorded /search results (10 real pages, repeated)", race(contestants), "json.loads (floor)")
    if not peer:
        out.append("(the peer, pyeuropepmc, is not installed here: it pins click<8.2, so it goes in a venv of its own with the "
                   "tracker: pip install pyeuropepmc -e .)")
    out += [""] + table(f"EU CTIS: {len(records)} full records of 165 kB (the one recorded, repeated)",
                        race({"json.loads (floor)": floor_json([b for _, b in records]), "tracker parse_retrieve + parse_trial": ctis}), "json.loads (floor)")
    out += [""] + table(f"ISRCTN: {n_isrctn:,} WHO-format trials (4 recorded, repeated)",
                        race({"lxml.etree.fromstring (floor)": xml_floor(isrctn, n_isrctn), "tracker parse_who": isrctn_run}), "lxml.etree.fromstring (floor)")
    out += [""] + table(f"WHO ICTRP export: {n_ictrp:,} trials (the recorded export x10)",
                        race({"lxml.etree.fromstring (floor)": xml_floor(ictrp, n_ictrp), "tracker parse_export": ictrp_run}), "lxml.etree.fromstring (floor)")
    print("\n".join(out))
    print(f"\npython {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
