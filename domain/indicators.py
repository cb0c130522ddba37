"""Target indicators of a convention and how an achieved value compares (DOMAIN §5).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import Final

from domain.errors import RuleViolation

# The five indicators of seed 002 (convention art. 2 and 3), with the labels staff read.
INDICATORS: Final[dict[str, str]] = {
    "projects_supported": "projets accompagnés",
    "funding_raised_eur": "investissements captés (EUR)",
    "companies_created": "entreprises créées",
    "young_graduates_hired": "alternants ou jeunes diplômés embauchés",
    "sessions_held": "sessions Innosprint",
}

MET = "atteint"
BELOW = "en dessous"
ABOVE = "au-dessus"


@dataclass(frozen=True)
class Target:
    """Bounds included; None leaves a side open ("au moins 2" is min=2, max=None)."""

    min: Decimal | None
    max: Decimal | None

    def __post_init__(self) -> None:
        for side in ("min", "max"):
            bound = getattr(self, side)
            if bound is not None and (not isinstance(bound, Decimal) or not bound.is_finite()):
                raise RuleViolation(f"target.{side}", bound, "borne d'objectif attendue en Decimal")
        if self.min is None and self.max is None:
            raise RuleViolation("target", self, "objectif sans borne : donner un minimum, un maximum ou les deux")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise RuleViolation("target", self, f"objectif incohérent : minimum {self.min} supérieur au maximum {self.max}")


# Seed 002 art. 2-3, over one year: 12 to 20 projects, at least 200 kEUR raised, at
# least 2 companies, at least 5 young people hired, at least 5 sessions.
INNOSPRINT_TARGETS: Final = MappingProxyType(
    {
        "projects_supported": Target(Decimal(12), Decimal(20)),
        "funding_raised_eur": Target(Decimal(200000), None),
        "companies_created": Target(Decimal(2), None),
        "young_graduates_hired": Target(Decimal(5), None),
        "sessions_held": Target(Decimal(5), None),
    }
)


def label(indicator: str) -> str:
    """French label, or the key itself for an indicator defined by another convention."""
    return INDICATORS.get(indicator, indicator)


def assess(indicator: str, achieved: Decimal, target: Target) -> tuple[str, Decimal]:
    """("atteint", 0), ("en dessous", how far short of min) or ("au-dessus", how far over max)."""
    if not isinstance(indicator, str) or not indicator.strip():
        raise RuleViolation("indicator", indicator, "indicateur non nommé")
    field = f"indicators.{indicator}"
    if isinstance(achieved, bool) or not isinstance(achieved, (Decimal, int)):
        raise RuleViolation(field, achieved, f"valeur de « {label(indicator)} » attendue en Decimal ou entier (jamais float)")
    value = Decimal(achieved)
    if not value.is_finite() or value < 0:
        raise RuleViolation(field, achieved, f"valeur de « {label(indicator)} » invalide : nombre positif ou nul attendu")
    if target.min is not None and value < target.min:
        return BELOW, target.min - value
    if target.max is not None and value > target.max:
        return ABOVE, value - target.max
    return MET, Decimal(0)
