"""Every identifier a ClinicalTrials.gov study carries: its NCT number, the numbers merged into it (nctIdAliases) and
its other registrations and codes (secondaryIdInfos: EudraCT, EU CT, ISRCTN, jRCT, UMIN, ChiCTR, IRCT, CTRI, DRKS
..., recognised by their pattern; grant numbers and sponsors' codes kept as 'other'). Pure."""

from __future__ import annotations

from typing import Any

from ...identifiers import TRIAL_SCHEMES, normalise, recognise

TYPED = {"EUDRACT_NUMBER": ("eudract", "euct"), "CTIS": ("euct", "eudract")}  # the schemes a typed secondary id is read in


def study_identifiers(nct_id: str, identification: dict[str, Any]) -> tuple[tuple[str, str, str], ...]:
    """(scheme, value, via) for a study's identificationModule, its own number first; each (scheme, value) once."""
    found: dict[tuple[str, str], str] = {("nct", nct_id): "own"}
    aliases = identification.get("nctIdAliases")
    for alias in aliases if isinstance(aliases, list) else ():
        value = normalise("nct", alias) if isinstance(alias, str) else None
        if value:
            found.setdefault(("nct", value), "alias")
    infos = identification.get("secondaryIdInfos")
    for info in infos if isinstance(infos, list) else ():
        if not isinstance(info, dict) or not isinstance(info.get("id"), str) or not info["id"].strip():
            continue
        text = info["id"].strip()
        typed = TYPED.get(str(info.get("type") or ""))
        scheme_value = next(((s, v) for s in typed if (v := normalise(s, text))), None) if typed else None
        scheme_value = scheme_value or recognise(text, TRIAL_SCHEMES) or ("other", text)
        found.setdefault(scheme_value, "secondary_id")
    return tuple((scheme, value, via) for (scheme, value), via in found.items())
