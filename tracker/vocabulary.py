"""The tracker's common trial vocabulary: the statuses and phases every trial registry's values are mapped to (they are
ClinicalTrials.gov's v2 enums, the richest set; a registry's own value is kept beside its mapping). Data only."""

from __future__ import annotations

# ClinicalTrials.gov v2 enums (data model: overallStatus, phases, studyType)
STATUSES = (
    "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING", "RECRUITING", "SUSPENDED",
    "TERMINATED", "WITHDRAWN", "AVAILABLE", "NO_LONGER_AVAILABLE", "TEMPORARILY_NOT_AVAILABLE", "APPROVED_FOR_MARKETING",
    "WITHHELD", "UNKNOWN",
)
# the common vocabulary: CT.gov's statuses, and what other registries say that CT.gov never does
COMMON_STATUSES = STATUSES + (
    "ONGOING",  # authorised or running; the registry does not say whether it recruits (CTIS "Authorised")
    "NOT_RECRUITING",  # the registry says only that it does not recruit: not yet, no longer, or ended (WHO ICTRP)
)
# statuses of a trial that has ended, however it ended (CT.gov's and the other registries')
ENDED = ("COMPLETED", "TERMINATED", "WITHDRAWN")
PHASES = ("EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4", "NA")
