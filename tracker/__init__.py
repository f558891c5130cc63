"""tracker: ClinicalTrials.gov and PubMed watch for stem-cell approaches to hair loss, stored in SQLite."""

__version__ = "0.1.0"
