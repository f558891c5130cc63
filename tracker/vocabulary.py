"""The tracker's common trial vocabulary: the statuses and phases every trial registry's values are mapped to (they are
ClinicalTrials.gov's v2 enums, the richest set; a registry's own value is kept beside its mapping). Data only."""

from __future__ import annotations

# ClinicalTrials.gov v2 enums (data model: overallStatus, phases, studyType)
STATUSES = (
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING", "RECRUITING", "SUSPENDED",
    "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING",
    "WITHHELD", "UNKNOWN",
)
PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")
