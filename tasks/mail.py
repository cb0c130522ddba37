"""Sending the queued mail through the configured gateway."""
from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from core.settings import get_settings
from db.session import unit_of_work
from gateways.wiring import mail_gateway
from services import mailing


@task(name="envoyer les courriels en attente", cache_policy=NO_CACHE)
def send_queued_mail(limit: int | None = None) -> mailing.SendResult:
    settings = get_settings()
    gateway = mail_gateway(settings)
    result = mailing.send_queued(unit_of_work, gateway, settings, limit=limit)
    logger = get_run_logger()
    logger.info("%d courriel(s) envoyé(s) par %r, %d en échec définitif, %d en attente",
                len(result.sent), gateway, result.failed, result.waiting)
    if result.error:
        logger.warning("Serveur de messagerie indisponible, les courriels restent en file : %s", result.error)
    return result
