"""The journal's secret key, kept outside the grants store.

Whoever can write to the database can also run the product's code: with a plain hash
they could edit an event and recompute the whole chain. With an HMAC they cannot without
the key, so the key must not live in the database: it comes from GRANTFLOW_JOURNAL_KEY,
or a Prefect Secret block named by GRANTFLOW_JOURNAL_KEY_BLOCK, and otherwise (the
embedded default) from a file under GRANTFLOW_HOME, generated on first use and announced
as a warning so that the operator saves it elsewhere.
"""
from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from core.settings import Settings

logger = logging.getLogger(__name__)

_cache: dict[tuple[str, str, str], bytes] = {}


class JournalKeyError(Exception):
    """The configured key cannot be read: nothing is journalled without it."""


def key_file(settings: Settings) -> Path:
    return settings.home / "journal.key"


def journal_key(settings: Settings) -> bytes:
    secret = settings.journal_key.get_secret_value() if settings.journal_key is not None else ""
    block = settings.journal_key_block or ""
    path = str(key_file(settings).resolve())
    cache_key = (secret, block, path if not (secret or block) else "")
    if cache_key not in _cache:
        _cache[cache_key] = _read(settings, secret, block)
    return _cache[cache_key]


def _read(settings: Settings, secret: str, block: str) -> bytes:
    if secret:
        return secret.encode()
    if block:
        from prefect.blocks.system import Secret

        try:
            value = Secret.load(block).get()
        except Exception as error:  # an unknown block, or no Prefect server: say which
            raise JournalKeyError(f"clé du journal : bloc Prefect Secret « {block} » illisible ({error})") from error
        return str(value).encode()
    path = key_file(settings)
    if path.exists():
        return path.read_text(encoding="ascii").strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    generated = secrets.token_hex(32)
    # O_EXCL: two processes starting together keep the first key written, never two keys.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip().encode()
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(generated + "\n")
    notice = (f"clé du journal d'audit générée dans {path} : la sauvegarder hors de la base "
              "(ou fournir GRANTFLOW_JOURNAL_KEY / GRANTFLOW_JOURNAL_KEY_BLOCK)")
    logger.warning(notice)
    return generated.encode()
