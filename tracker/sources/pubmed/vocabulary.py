"""PubMed's search field tags, which topic-line terms and claim checks are checked against before anything is sent. Data only."""

from __future__ import annotations

# PubMed search field tags (PubMed Help, "Search Field Descriptions and Tags"), short and long forms, lower case.
# A tag may carry :noexp (MeSH without explosion) or, for [tiab], [ti] and [ad], a proximity :~N.
PUBMED_TAGS = frozenset({
    "ad", "affiliation", "all", "all fields", "aid", "article identifier", "au", "author", "auid", "author identifier",
    "book", "cn", "corporate author", "crdt", "create date", "date - create", "dcom", "completion date",
    "date - completion", "dp", "pdat", "publication date", "date - publication", "edat", "entry date", "date - entry",
    "ed", "editor", "filter", "sb", "subset", "1au", "first author", "first author name", "fau", "full author name",
    "fir", "full investigator name", "gr", "grant number", "ir", "investigator", "isbn", "is", "issn", "ip", "issue",
    "ta", "jour", "journal", "la", "language", "lastau", "last author", "last author name", "lid", "location id",
    "mhda", "mesh date", "date - mesh", "majr", "mesh major topic", "sh", "subheading", "mesh subheading", "mh", "mesh",
    "mesh terms", "lr", "mdat", "modification date", "date - modification", "jid", "nlm unique id", "ot", "other term",
    "pg", "pagination", "ps", "personal name as subject", "pa", "pharmacological action", "pl", "place of publication",
    "pmid", "uid", "pubn", "publisher", "pt", "publication type", "si", "secondary source id", "nm",
    "supplementary concept", "supplementary concept name", "tw", "text word", "text words", "ti", "title", "tiab",
    "title/abstract", "tt", "transliterated title", "vi", "volume", "rn", "ec/rn number", "cois",
    "conflict of interest statement", "doi", "pmc", "pmcid", "mesh:noexp", "mh:noexp", "majr:noexp", "sh:noexp",
})
