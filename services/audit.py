"""What an auditor receives: one zip per grant with its journal, dossier, mails and documents,
and everything needed to re-verify the journal with standard tools, without the product
(gateways.documents writes the zip)."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from core.settings import Settings
from db.models import Event, Message
from domain.calendar import format_datetime_fr
from domain.statuses import MessageStatus
from gateways import documents
from services import journal, journal_anchors
from services.grants import get_grant
from services.journal_key import journal_key
from services.reading import grant_view

README = """\
Dossier d'audit de la subvention {reference}
============================================

journal.json        les événements de la subvention, dans l'ordre (seq 1, 2, 3...)
ancrages.jsonl      les lignes du fichier d'ancrage (hors base) qui citent cette subvention
integrite.txt       ce que la vérification de GrantFlow a trouvé au moment de l'export
courriels/          les courriels tels qu'envoyés, octet pour octet (.eml)
courriels/SHA256SUMS  leurs empreintes SHA-256 enregistrées au moment de l'envoi
dossier.yaml, etat.json, documents/  le dossier chargé, l'état actuel, les pièces produites

Vérifier sans GrantFlow
-----------------------
1. Chaînage (sans clé) : pour chaque événement, « prev_hash » est le « hash » de
   l'événement précédent (64 zéros pour le n°1), et les numéros « seq » se suivent.
2. Empreintes : « body » est le texte exact couvert par l'empreinte ; vérifier d'abord
   qu'il redit bien les champs de l'événement (c'est la liste JSON
   [grant_id, seq, at, business_date, actor, kind, payload, prev_hash], clés triées, sans
   espaces, UTF-8). Puis :
   - alg « hmac-sha256 » : hash = HMAC-SHA256(clé du journal, body). La clé
     (GRANTFLOW_JOURNAL_KEY, ou le texte du fichier journal.key de l'installation) n'est
     jamais dans cette archive : la collectivité la remet à l'auditeur à part. Par exemple :
         printf '%s' "$BODY" | openssl dgst -sha256 -hmac "$CLE"
     ou en Python : hmac.new(cle.encode(), body.encode(), hashlib.sha256).hexdigest()
   - alg « sha256 » (événements antérieurs à la clé) : hash = SHA-256(body).
3. Ancrage : chaque ligne de ancrages.jsonl donne des têtes de chaîne
   [grant_id, référence, seq, hash] datées ; l'événement « seq » de journal.json doit
   avoir ce « hash ». La ligne entière (sans son champ « mac ») est signée :
   mac = HMAC-SHA256(clé, JSON de la ligne sans « mac », clés triées, sans espaces).
4. Courriels : dans courriels/, `sha256sum -c SHA256SUMS`.
"""


def integrity(session: Session, settings: Settings) -> list[journal.Break]:
    """Every break: in the chain and its keyed hashes, then against the anchors outside the store."""
    return journal.verify(session, journal_key(settings)) + journal_anchors.check(session, settings)


def _events(session: Session, grant_id: int) -> list[dict[str, object]]:
    rows = session.scalars(sa.select(Event).where(Event.grant_id == grant_id).order_by(Event.seq))
    return [{"seq": e.seq, "at": e.at.astimezone(dt.timezone.utc).isoformat(),
             "business_date": e.business_date.isoformat(), "actor": e.actor, "kind": e.kind, "payload": e.payload,
             "prev_hash": e.prev_hash, "hash": e.hash, "alg": e.alg,
             "body": journal.event_body(grant_id=e.grant_id, seq=e.seq, at=e.at, business_date=e.business_date,
                                        actor=e.actor, kind=e.kind, payload=e.payload, prev_hash=e.prev_hash)}
            for e in rows]


def _anchor_lines(settings: Settings, grant_id: int) -> str:
    path = settings.anchors_path
    if not path.exists():
        return ""
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            heads = json.loads(line).get("heads", [])
        except ValueError:
            continue
        if any(isinstance(h, list) and h and h[0] == grant_id for h in heads):
            kept.append(line + "\n")
    return "".join(kept)


def bundle(session: Session, reference: str, settings: Settings, target: Path) -> Path:
    grant = get_grant(session, reference)
    view = grant_view(session, reference)
    breaks = [b for b in integrity(session, settings) if b.grant_reference == reference]
    entries: list[tuple[str, str | bytes]] = [
        ("LISEZMOI.txt", README.format(reference=reference)),
        ("journal.json", json.dumps(_events(session, grant.id), ensure_ascii=False, indent=2)),
        ("ancrages.jsonl", _anchor_lines(settings, grant.id)),
        ("integrite.txt", "chaîne du journal intègre et conforme aux ancrages\n"
         if not breaks else "".join(f"rupture à l'événement n°{b.seq} : {b.reason}\n" for b in breaks)),
        ("dossier.yaml", yaml.safe_dump(grant.dossier, allow_unicode=True, sort_keys=False)),
        ("etat.json", json.dumps({k: v for k, v in view.items() if k != "events"}, ensure_ascii=False, indent=2)),
    ]
    sent = session.scalars(sa.select(Message).where(Message.grant_id == grant.id, Message.status == MessageStatus.SENT.value)
                           .order_by(Message.id))
    sums, missing = [], []
    for message in sent:
        name = f"{message.id:06d}-{message.level or message.kind}.eml"
        if message.raw is None:
            # Sent before the bytes were kept: rendering it again from today's templates
            # would show text that may never have been sent.
            missing.append(f"{name} : envoyé le {format_datetime_fr(message.sent_at)}, contenu non conservé\n")
            continue
        entries.append((f"courriels/{name}", message.raw))
        sums.append(f"{message.raw_sha256 or hashlib.sha256(message.raw).hexdigest()}  {name}\n")
    entries.append(("courriels/SHA256SUMS", "".join(sums)))
    if missing:
        entries.append(("courriels/non-conserves.txt", "".join(missing)))
    return documents.write_bundle(target, entries, settings.artifacts_dir / reference)
