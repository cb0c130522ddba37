"""French department codes, in the 3-character form @CTES uses ("002", "02A", "974").

Holidays, RNA rules and act identifiers all depend on the department, and the same
department arrives spelt "2", "02" or "002": normalise once, compare normalised codes.
"""
from __future__ import annotations

import re

from domain.errors import RuleViolation

# Metropolitan 01-95 (20 split into 2A/2B in 1976), overseas departments and regions
# 971-976, overseas collectivities that have a prefecture code (975 Saint-Pierre-et-
# Miquelon, 977 Saint-Barthélemy, 978 Saint-Martin, 984 TAAF, 986-988).
DEPARTMENTS: frozenset[str] = frozenset(
    {f"{n:03d}" for n in range(1, 96) if n != 20}
    | {"02A", "02B"}
    | {"971", "972", "973", "974", "975", "976", "977", "978", "984", "986", "987", "988"}
)

# Local law of Alsace-Moselle: Good Friday and 26 December are public holidays, and
# associations are registered at the court, not in the RNA.
ALSACE_MOSELLE: frozenset[str] = frozenset({"057", "067", "068"})

_SHORT = re.compile(r"^0{0,2}(\d{1,2})$|^0?(2[AB])$|^(9\d\d)$")


def normalise_department(value: str, field: str = "department") -> str:
    """The 3-character code: "2" -> "002", "2a" -> "02A", "974" -> "974"."""
    if not isinstance(value, str):
        raise RuleViolation(field, value, "code de département attendu en texte (ex. « 002 », « 02A », « 974 »)")
    match = _SHORT.match(value.strip().upper())
    code = None
    if match:
        digits, corsica, overseas = match.groups()
        code = f"{int(digits):03d}" if digits else corsica.rjust(3, "0") if corsica else overseas
    if code not in DEPARTMENTS:
        raise RuleViolation(
            field,
            value,
            "département inconnu : code INSEE attendu (001 à 095, 02A, 02B, 971 à 978, 984, 986 à 988)",
        )
    return code
