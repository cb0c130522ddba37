"""Sending the queued mail through the configured gateway."""
from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from db.session import unit_of_work
from gateways.mail import MailGateway, OutboxFolder, SmtpGateway
from grantflow.settings import Settings, get_settings
from services import mailing


def smtp_password(settings: Settings) -> str | None:
    """From the environment, or a Prefect Secret block: never logged, never stored."""
    if settings.smtp_password is not None:
        return settings.smtp_password.get_secret_value()
    if settings.smtp_password_block:
        from prefect.blocks.system import Secret

        return Secret.load(settings.smtp_password_block).get()
    return None


def mail_gateway(settings: Settings) -> MailGateway:
    if not settings.smtp_host:
        return OutboxFolder(settings.outbox_dir)
    return SmtpGateway(host=settings.smtp_host, port=settings.smtp_port, sender=settings.mail_from,
                       user=settings.smtp_user, password=smtp_password(settings),
                       starttls=settings.smtp_starttls, use_ssl=settings.smtp_ssl)


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
