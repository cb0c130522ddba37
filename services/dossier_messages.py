"""What an operator reads when a dossier is refused: French, naming the file, the entry, the field and the rule."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from domain.errors import RuleViolation


class DossierError(Exception):
    """A dossier refused whole: the French message names the file, the grant, the field and the rule."""


SHOWN_CHARACTERS = 80  # of a refused value, in messages


def clipped(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """A value as a message quotes it: at most `limit` characters, with the total length when cut."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} caractères)"


_PYDANTIC_RULES: dict[str, str] = {
    "missing": "champ obligatoire absent",
    "extra_forbidden": "champ inconnu",
    "int_parsing": "nombre entier attendu",
    "int_type": "nombre entier attendu",
    "date_from_datetime_parsing": "date invalide (format attendu AAAA-MM-JJ)",
    "date_parsing": "date invalide (format attendu AAAA-MM-JJ)",
    "date_type": "date attendue (format AAAA-MM-JJ)",
    "string_type": "texte attendu",
    "bool_parsing": "vrai ou faux attendu",
    "list_type": "liste attendue",
    "dict_type": "objet attendu",
    "model_type": "objet attendu",
    "literal_error": "valeur non permise",
    "enum": "valeur non permise",
    "union_tag_invalid": "type d'événement inconnu",
    "union_tag_not_found": "champ « event » absent",
    "greater_than": "valeur trop petite",
    "greater_than_equal": "valeur trop petite",
    "less_than_equal": "valeur trop grande",
    "string_too_short": "texte vide",
    "string_too_long": "texte trop long",
    "string_pattern_mismatch": "format invalide",
    "too_short": "liste vide",
}


def french_rule(error: dict[str, Any]) -> str:
    context = error.get("ctx") or {}
    original = context.get("error")
    if isinstance(original, RuleViolation):
        return original.rule
    if error["type"] == "value_error" and original is not None:
        return str(original)
    rule = _PYDANTIC_RULES.get(error["type"], error["msg"])
    if error["type"] in ("literal_error", "enum"):
        rule += f" (attendu : {str(context.get('expected', '')).replace(' or ', ' ou ')})"
    if error["type"] == "union_tag_invalid":
        rule += f" « {context.get('tag', '')} » (attendu : {context.get('expected_tags', '')})"
    if error["type"] in ("greater_than", "greater_than_equal", "less_than_equal"):
        limit = context.get("gt", context.get("ge", context.get("le")))
        rule += f" (limite : {limit})"
    return rule


def _entry(raw: Any, section: str, index: int) -> dict[str, Any]:
    try:
        entry = raw[section][index]
    except (KeyError, IndexError, TypeError):
        return {}
    return entry if isinstance(entry, dict) else {}


def where(raw: Any, loc: Sequence[Any]) -> tuple[str | None, str]:
    """Which entry is wrong (the grant, or the authority or association with the grants
    that name it) and the field path after it."""
    reference = None
    if len(loc) >= 2 and loc[0] == "grants" and isinstance(loc[1], int):
        found = _entry(raw, "grants", loc[1]).get("reference")
        reference = None if found is None else clipped(str(found))
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "acts" and isinstance(loc[1], int):
        reference = f"acte {clipped(str(_entry(raw, 'acts', loc[1]).get('id')))}"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] in ("authorities", "associations") and isinstance(loc[1], int):
        code = _entry(raw, loc[0], loc[1]).get("id")
        if code is not None:
            key = "authority" if loc[0] == "authorities" else "association"
            grants = [g.get("reference") for g in (raw.get("grants") or []) if isinstance(g, dict)
                      and g.get(key) == code and g.get("reference")]
            word = "collectivité" if key == "authority" else "association"
            reference = clipped(f"{word} {code}" + (f" (subvention {', '.join(map(str, grants))})" if grants else ""),
                                200)
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return reference, path


def _shown(value: Any) -> Any:
    """The value as the dossier wrote it: dates in ISO form, counts as a mapping."""
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name.rstrip("_"): _shown(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


def message(source: str, reference: str | None, field: str, value: Any, rule: str) -> str:
    if reference is None:
        where = source
    elif reference.startswith(("association ", "collectivité ", "acte ")):
        where = f"{source}, {reference}"
    else:
        where = f"{source}, subvention {reference}"
    return f"{where} : champ « {field} » = {clipped(repr(_shown(value)))} : {rule}"


