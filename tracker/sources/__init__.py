"""Sources: fetch_* talks to an API (generators of raw pages), parse_* turns raw into models. Never the store."""
