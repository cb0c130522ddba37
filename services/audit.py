"""What an auditor receives: one zip per grant with its journal, dossier, mails and documents."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from db.models import Message
from gateways.mail import build_mime
from grantflow import clock
from grantflow.settings import Settings
from services import journal, mailing
from services.grants import get_grant
from services.reading import grant_view


def _entry(name: str) -> zipfile.ZipInfo:
    # Dated by the application clock, like everything else it writes.
    return zipfile.ZipInfo(name, date_time=clock.now().timetuple()[:6])


def bundle(session: Session, reference: str, settings: Settings, target: Path) -> Path:
    grant = get_grant(session, reference)
    view = grant_view(session, reference)
    breaks = [b for b in journal.verify(session) if b.grant_reference == reference]
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_entry("journal.json"), json.dumps(view["events"], ensure_ascii=False, indent=2))
        archive.writestr(_entry("integrite.txt"), "chaîne du journal intègre\n" if not breaks else "".join(
            f"rupture à l'événement n°{b.seq} : {b.reason}\n" for b in breaks))
        archive.writestr(_entry("dossier.yaml"), yaml.safe_dump(grant.dossier, allow_unicode=True, sort_keys=False))
        archive.writestr(_entry("etat.json"), json.dumps({k: v for k, v in view.items() if k != "events"},
                                                 ensure_ascii=False, indent=2))
        sent = session.scalars(sa.select(Message).where(Message.grant_id == grant.id, Message.status == "sent")
                               .order_by(Message.id))
        for message in sent:
            mail = mailing.compose(session, message, settings)
            archive.writestr(_entry(f"courriels/{message.id:06d}-{message.level or message.kind}.eml"),
                             bytes(build_mime(mail, date=message.sent_at)))
        documents = settings.artifacts_dir / reference
        if documents.is_dir():
            for path in sorted(documents.rglob("*")):
                if path.is_file():
                    archive.writestr(_entry(f"documents/{path.relative_to(documents)}"), path.read_bytes())
    return target
