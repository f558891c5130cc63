"""Identifier schemes: a bare id is recognised as what it is and put in its normal form; ids that only look alike
(a grant number, a sponsor's code) are not taken for a registration. Hand-made ids in each registry's real format."""

import pytest

from tracker.identifiers import recognise, url_for
from tracker.sources.ctgov.identity import study_identifiers


@pytest.mark.parametrize("text, expected", [
    ("nct01234567", ("nct", "NCT01234567")),
    ("PMID: 24468981", ("pmid", "24468981")),
    ("https://doi.org/10.1126/Science.AAF1635", ("doi", "10.1126/science.aaf1635")),
    ("2015-001894-41", ("eudract", "2015-001894-41")),
    ("EUCTR2019-001698-10-DE", ("eudract", "2019-001698-10")),  # an EudraCT number as ICTRP lists it per member state
    ("2024-512310-18-00", ("euct", "2024-512310-18-00")),
    ("isrctn12345678", ("isrctn", "ISRCTN12345678")),
    ("JRCTs031180001", ("jrct", "jRCTs031180001")),
    ("UMIN000012345", ("umin", "UMIN000012345")),
    ("ChiCTR-IOR-17012345", ("chictr", "ChiCTR-IOR-17012345")),
    ("IRCT20190101042190N1", ("irct", "IRCT20190101042190N1")),
    ("CTRI/2020/05/025123", ("ctri", "CTRI/2020/05/025123")),
    ("DRKS00012345", ("drks", "DRKS00012345")),
    ("PMC3908755", ("pmcid", "PMC3908755")),
    ("PPR123456", ("ppr", "PPR123456")),
    ("U10CA180868", None),
    ("ABCSG 42", None),
])
def test_a_bare_id_is_recognised_in_its_normal_form(text, expected):
    assert recognise(text) == expected


def test_a_registration_links_to_its_registrys_page():
    assert url_for("nct", "NCT02552212") == "https://clinicaltrials.gov/study/NCT02552212"
    assert url_for("drks", "DRKS00012345") == "https://drks.de/search/en/trial/DRKS00012345"
    assert url_for("umin", "UMIN000012345") == "https://trialsearch.who.int/Trial2.aspx?TrialID=UMIN000012345"


def test_a_studys_secondary_ids_are_read_by_their_type_then_their_pattern_and_grants_are_never_identity():
    ident = {"nctIdAliases": ["NCT00000102"], "secondaryIdInfos": [
        {"id": "2024-512310-18-00", "type": "EUDRACT_NUMBER"},  # a CTIS number entered in the EudraCT field
        {"id": "ISRCTN12345678", "type": "REGISTRY", "domain": "ISRCTN"},
        {"id": "U10CA180868", "type": "NIH"},
        {"id": " "},
        {"type": "OTHER"},
    ]}
    assert study_identifiers("NCT00000101", ident) == (
        ("nct", "NCT00000101", "own"), ("nct", "NCT00000102", "alias"), ("euct", "2024-512310-18-00", "secondary_id"),
        ("isrctn", "ISRCTN12345678", "secondary_id"), ("other", "U10CA180868", "secondary_id"))
