"""What a ClinicalTrials.gov study's posted results say, at a glance: its primary outcomes (title, time frame, each
arm's participants and value with its dispersion and unit, the reported analyses) and its serious adverse events
per arm, read from the study's resultsSection. Faithful to the record: every number is the registry's text as
posted, nothing is computed, rounded or inferred. Pure: the study's JSON in, Results out, and the two texts (the
digest's compact one, `show`'s complete one)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..rows import dig, listed

ARMS_SHOWN = 4  # arms named in the digest's line; the rest are counted
PARAMETERS = {  # paramType as the registry writes it -> as a reader says it
    "MEAN": "mean", "LEAST_SQUARES_MEAN": "least-squares mean", "GEOMETRIC_MEAN": "geometric mean", "MEDIAN": "median",
    "NUMBER": "number", "COUNT_OF_PARTICIPANTS": "participants", "COUNT_OF_UNITS": "units",
    "GEOMETRIC_LEAST_SQUARES_MEAN": "geometric least-squares mean", "LOG_MEAN": "log mean",
}
DISPERSIONS = {  # dispersionType -> how its value is written beside the measure
    "Standard Deviation": "SD", "STANDARD_DEVIATION": "SD", "Standard Error": "SE", "STANDARD_ERROR_OF_MEAN": "SE",
    "95% Confidence Interval": "95% CI", "90% Confidence Interval": "90% CI", "Full Range": "range",
    "Inter-Quartile Range": "IQR", "Geometric Coefficient of Variation": "geometric CV",
}


@dataclass(frozen=True)
class Measure:
    """One arm's value in one row of an outcome, each part as posted."""

    arm: str
    participants: str | None
    value: str | None
    spread: str | None = None
    lower: str | None = None
    upper: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class Row:
    label: str | None  # the class and category titles ("Week 16", "Yes"), None for a single row
    measures: tuple[Measure, ...]


@dataclass(frozen=True)
class Analysis:
    arms: tuple[str, ...]
    p_value: str | None
    method: str | None
    estimate: str | None  # "Percentage Difference 34.0"
    ci: str | None  # "90% CI 24.29 to 43.75" (two-sided unless said)
    comparison: str | None  # the registry's estimateComment ("Dupilumab 300 mg qw vs. Placebo qw")


@dataclass(frozen=True)
class Outcome:
    title: str
    time_frame: str | None
    parameter: str | None  # "mean"
    dispersion: str | None  # "SD"
    unit: str | None
    rows: tuple[Row, ...]
    analyses: tuple[Analysis, ...]


@dataclass(frozen=True)
class Serious:
    arm: str
    affected: int | None
    at_risk: int | None


@dataclass(frozen=True)
class Results:
    primary: tuple[Outcome, ...]
    secondary: int  # the secondary and other outcomes posted, counted (show names where to read them)
    serious: tuple[Serious, ...]

    def glance(self) -> list[str]:
        return glance(self)

    def complete(self) -> list[str]:
        return complete(self)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = " ".join(str(value).split())
    return text or None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _outcome(measure: dict[str, Any]) -> Outcome:
    arms = {g.get("id"): _text(g.get("title")) or g.get("id") for g in listed(measure.get("groups")) if isinstance(g, dict)}
    denominators = next((d for d in listed(measure.get("denoms")) if isinstance(d, dict) and str(d.get("units", "")).lower() == "participants"),
                        next(iter(listed(measure.get("denoms"))), {}))
    participants = {c.get("groupId"): _text(c.get("value")) for c in listed(dig(denominators, "counts")) if isinstance(c, dict)}
    rows = []
    for group in listed(measure.get("classes")):
        categories = listed(group.get("categories")) if isinstance(group, dict) else []
        for category in categories:
            if not isinstance(category, dict):
                continue
            label = " · ".join(t for t in (_text(group.get("title")), _text(category.get("title"))) if t) or None
            values = tuple(Measure(arm=arms.get(m.get("groupId"), m.get("groupId") or "?"), participants=participants.get(m.get("groupId")),
                                   value=_text(m.get("value")), spread=_text(m.get("spread")), lower=_text(m.get("lowerLimit")),
                                   upper=_text(m.get("upperLimit")), comment=_text(m.get("comment")))
                           for m in listed(category.get("measurements")) if isinstance(m, dict))
            if values:
                rows.append(Row(label=label, measures=values))
    analyses = tuple(_analysis(a, arms) for a in listed(measure.get("analyses")) if isinstance(a, dict))
    dispersion = _text(measure.get("dispersionType"))
    return Outcome(title=_text(measure.get("title")) or "untitled outcome", time_frame=_text(measure.get("timeFrame")),
                   parameter=PARAMETERS.get(str(measure.get("paramType")), _text(measure.get("paramType"))),
                   dispersion=DISPERSIONS.get(dispersion or "", dispersion), unit=_text(measure.get("unitOfMeasure")),
                   rows=tuple(rows), analyses=analyses)


def _analysis(analysis: dict[str, Any], arms: dict[Any, str]) -> Analysis:
    estimate = " ".join(t for t in (_text(analysis.get("paramType")), _text(analysis.get("paramValue"))) if t) or None
    lower, upper, pct = _text(analysis.get("ciLowerLimit")), _text(analysis.get("ciUpperLimit")), _text(analysis.get("ciPctValue"))
    ci = None
    if lower or upper:
        sides = " one-sided" if str(analysis.get("ciNumSides")) == "ONE_SIDED" else ""
        ci = f"{pct + '% ' if pct else ''}CI{sides} {lower or 'not given'} to {upper or 'not given'}"
    return Analysis(arms=tuple(arms.get(g, g) for g in listed(analysis.get("groupIds"))), p_value=_text(analysis.get("pValue")),
                    method=_text(analysis.get("statisticalMethod")), estimate=estimate, ci=ci, comparison=_text(analysis.get("estimateComment")))


def read_results(study: dict[str, Any] | str | None) -> Results | None:
    """The posted results of a study (its JSON, or its JSON text); None when it has no results section."""
    if isinstance(study, str):
        try:
            study = json.loads(study)
        except ValueError:
            return None
    section = study.get("resultsSection") if isinstance(study, dict) else None
    if not isinstance(section, dict):
        return None
    measures = [m for m in listed(dig(section, "outcomeMeasuresModule", "outcomeMeasures")) if isinstance(m, dict)]
    primary = tuple(_outcome(m) for m in measures if m.get("type") == "PRIMARY")
    serious = tuple(Serious(arm=_text(g.get("title")) or str(g.get("id")), affected=_count(g.get("seriousNumAffected")),
                            at_risk=_count(g.get("seriousNumAtRisk")))
                    for g in listed(dig(section, "adverseEventsModule", "eventGroups")) if isinstance(g, dict))
    return Results(primary=primary, secondary=len(measures) - len(primary), serious=serious)


# -- as read ---------------------------------------------------------------------------------------------

def measure_text(m: Measure, dispersion: str | None) -> str:
    """'22 (SD 11)', '4.1 (95% CI 2.0 to 6.3)', 'NA (comment)': the value and its dispersion, as posted."""
    text = m.value or "not given"
    if m.spread:
        text += f" ({dispersion + ' ' if dispersion else '±'}{m.spread})"
    elif m.lower or m.upper:
        text += f" ({dispersion + ' ' if dispersion else ''}{m.lower or 'not given'} to {m.upper or 'not given'})"
    return text


def _arm(m: Measure, dispersion: str | None, *, comment: bool) -> str:
    n = f" (n={m.participants})" if m.participants else ""
    note = f" [{m.comment}]" if comment and m.comment else ""
    return f"{m.arm}{n}: {measure_text(m, dispersion)}{note}"


def _heading(outcome: Outcome) -> str:
    what = ", ".join(t for t in (" ".join(t for t in (outcome.parameter, f"({outcome.dispersion})" if outcome.dispersion else None) if t), outcome.unit) if t)
    return f"{outcome.title}{f' ({outcome.time_frame})' if outcome.time_frame else ''}{f'; {what}' if what else ''}"


def analysis_text(a: Analysis, *, comparison: bool = True) -> str:
    """'p<0.001; Regression, Logistic; Odds Ratio (OR) 15.231 (95% CI 7.336 to 31.623)', as posted."""
    p = a.p_value.replace(" ", "") if a.p_value else None
    parts = [(f"p{p}" if p[:1] in "<>≤≥=" else f"p = {p}") if p else None,
             a.method, " ".join(t for t in (a.estimate, f"({a.ci})" if a.ci else None) if t) or None]
    said = "; ".join(part for part in parts if part)
    return f"{said}{f' ({a.comparison})' if comparison and a.comparison else ''}" if said else ""


def serious_text(results: Results, arms: int | None = None) -> str | None:
    """'Serious adverse events: Placebo 0/97; Dupilumab 3/97' (affected/at risk per arm, as posted)."""
    known = [s for s in results.serious if s.affected is not None]
    if not known:
        return None
    shown = known[:arms] if arms else known
    more = len(known) - len(shown)
    return "Serious adverse events: " + "; ".join(f"{s.arm} {s.affected}/{s.at_risk if s.at_risk is not None else '?'}" for s in shown) \
        + (f"; and {more} more arms" if more else "")


def glance(results: Results) -> list[str]:
    """The digest's lines: the first primary outcome, its first row's arms (ARMS_SHOWN at most), its first analysis,
    what more there is, and serious adverse events per arm."""
    lines: list[str] = []
    if results.primary:
        first = results.primary[0]
        line = f"Primary outcome: {_heading(first)}"
        if first.rows:
            row = first.rows[0]
            arms = "; ".join(_arm(m, first.dispersion, comment=False) for m in row.measures[:ARMS_SHOWN])
            more = len(row.measures) - ARMS_SHOWN
            line += f". {row.label + ': ' if row.label else ''}{arms}{f'; and {more} more arms' if more > 0 else ''}"
            if len(first.rows) > 1:
                line += f" (and {len(first.rows) - 1} more rows)"
        else:
            line += ". No values posted for it"
        if first.analyses and (said := analysis_text(first.analyses[0], comparison=False)):
            line += f". Analysis: {said}"
        lines.append(line + ".")
        if len(results.primary) > 1:
            lines.append(f"And {len(results.primary) - 1} more primary outcome{'s' if len(results.primary) > 2 else ''} (tracker show).")
    else:
        lines.append("No primary outcome posted.")
    if text := serious_text(results, ARMS_SHOWN):
        lines.append(text + ".")
    return lines


def complete(results: Results) -> list[str]:
    """`show`'s lines: every primary outcome, every row and arm with any comment, every analysis."""
    lines: list[str] = []
    for i, outcome in enumerate(results.primary, 1):
        lines.append(f"Primary outcome {i}: {_heading(outcome)}")
        for row in outcome.rows:
            prefix = f"  {row.label}: " if row.label else "  "
            lines.append(prefix + "; ".join(_arm(m, outcome.dispersion, comment=True) for m in row.measures))
        if not outcome.rows:
            lines.append("  no values posted")
        for a in outcome.analyses:
            if said := analysis_text(a):
                lines.append(f"  Analysis ({' vs '.join(a.arms) or 'arms not named'}): {said}")
    if not results.primary:
        lines.append("No primary outcome posted.")
    if results.secondary:
        lines.append(f"{results.secondary} secondary or other outcome{'s' if results.secondary != 1 else ''} posted (in the record).")
    if text := serious_text(results):
        lines.append(text)
    return lines
