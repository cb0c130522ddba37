"""Reading a dossier file: plain YAML (no aliases, YAML 1.2 booleans, dates left to the schema), then the schema."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from domain.errors import RuleViolation
from services.dossier_messages import DossierError, clipped, french_rule, message, where
from services.dossier_schema import Dossier


class _Yaml12Loader(yaml.SafeLoader):
    """YAML 1.1 reads the key `on` (as in `{event: signature, on: 2019-01-07}`) as True:
    only true/false are booleans here, as in YAML 1.2. Dates stay text for pydantic to read,
    so that `2019-02-30` is refused naming its field instead of failing the whole file."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class _PlainYamlLoader(_Yaml12Loader):
    """No anchors and no aliases: a dossier never needs them, and nested aliases ("billion
    laughs") make a kilobyte file expand to gigabytes. Refused as they are met, before
    anything is expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, "ancre (&) ou alias (*) YAML refusé : un dossier écrit chaque valeur en clair",
                event.start_mark)
        return super().compose_node(parent, index)


MAX_FILE_BYTES = 2_000_000  # the largest real dossier is a few kilobytes; an act's annex goes through import-annex

def read_yaml(path: Path) -> Any:
    """The YAML of a dossier or an events file; every way it can be unreadable is a DossierError in French."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DossierError(f"{path} : fichier de {size} octets refusé (au plus {MAX_FILE_BYTES} octets)")
        data = path.read_bytes()
    except OSError as error:
        raise DossierError(f"{path} : fichier illisible ({error.strerror or error})") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DossierError(f"{path} : fichier illisible : octet {error.start} ({data[error.start]:#04x}) invalide "
                           "en UTF-8 (enregistrer le fichier en UTF-8)") from error
    try:
        raw = yaml.load(text, Loader=_PlainYamlLoader)  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as error:
        raise DossierError(f"{path} : YAML illisible : {clipped(str(error), 300)}") from error
    _refuse_nul(raw, path, "")
    return raw


def _refuse_nul(value: Any, path: Path, where: str) -> None:
    """A NUL character (written "\\0" in YAML) cannot be stored by PostgreSQL nor read in a mail."""
    if isinstance(value, str) and "\x00" in value:
        raise DossierError(f"{path} : champ « {where or 'racine'} » = {clipped(repr(value))} : caractère nul "
                           "(\\0) refusé dans un texte")
    if isinstance(value, dict):
        for key, item in value.items():
            _refuse_nul(str(key), path, where)
            _refuse_nul(item, path, f"{where}.{key}" if where else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _refuse_nul(item, path, f"{where}[{index}]")

def parse(path: Path) -> Dossier:
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise DossierError(f"{path} : le dossier doit contenir authorities, associations et grants")
    try:
        return Dossier.model_validate(raw)
    except ValidationError as error:
        lines = []
        for item in error.errors():
            reference, field = where(raw, item["loc"])
            value = item.get("input")
            violation = (item.get("ctx") or {}).get("error")
            if isinstance(violation, RuleViolation):
                value = violation.value
                if not field.endswith(violation.field):  # raised for the whole entry: name its field
                    field = f"{field}.{violation.field}" if field else violation.field
            lines.append(message(str(path), reference, field, value, french_rule(item)))
        raise DossierError("\n".join(lines)) from error


