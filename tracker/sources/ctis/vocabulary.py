"""The EU CTIS public API's values: its public status codes with the label CTIS gives each, and their place in the
tracker's common vocabulary; the searchCriteria keys a topic line may use. Data only.

CTIS answers codes 2-5 with one label, "Authorised", and the public API says nothing finer: they map to ONGOING
(authorised or running, recruitment not stated), never to a recruiting status nobody said."""

from __future__ import annotations

STATUS_CODES: dict[int, tuple[str, str]] = {  # ctPublicStatusCode -> (CTIS's label, common status)
    1: ("Under evaluation", "NOT_YET_RECRUITING"),
    2: ("Authorised", "ONGOING"),
    3: ("Authorised", "ONGOING"),
    4: ("Authorised", "ONGOING"),
    5: ("Authorised", "ONGOING"),
    6: ("Halted", "SUSPENDED"),
    7: ("Suspended", "SUSPENDED"),
    8: ("Ended", "COMPLETED"),
    9: ("Expired", "WITHDRAWN"),  # the authorisation lapsed before the trial started
    10: ("Revoked", "TERMINATED"),
    11: ("Not authorised", "WITHDRAWN"),
    12: ("Cancelled", "WITHDRAWN"),
}
# The searchCriteria of POST /search (the public portal's search form), as the API names them.
SEARCH_KEYS = frozenset({
    "containAll", "containAny", "containNot", "title", "number", "status", "medicalCondition", "sponsor", "endPoint",
    "productName", "productRole", "populationType", "orphanDesignation", "msc", "ageGroupCode", "trialPhaseCode",
    "sponsorType", "gender", "protocolCode", "rareDisease", "pip", "haveOrphanDesignation", "hasStudyResults",
    "hasClinicalStudyReport", "isLowIntervention", "hasSeriousBreach", "hasUnexpectedEvent", "hasUrgentSafetyMeasure",
    "isTransitioned", "eudraCtCode", "trialRegion", "vulnerablePopulation", "mscStatus", "therapeuticAreaCode",
})
PAEDIATRIC_AGE_GROUPS = ("0-17", "in utero", "preterm", "newborn", "infant", "child", "adolescent")
