"""The configured gateways: the one place that chooses them from the settings.

Mail (GRANTFLOW_SMTP_*): no SMTP host means the outbox folder, one .eml per message;
otherwise SMTP through yagmail, the password from the environment or a Prefect Secret block.

Bank (GRANTFLOW_BANK):

- "simulated" (default): `SimulatedTreasury` in `settings.treasury_path`, following the
  fault plan of `settings.treasury_fault_plan` (a JSON file, read at every call, so a
  worker process and a test share it);
- "sepa-file": `SepaFileGateway` writing pain.001 files into `settings.payments_dir`; the
  debtor is the authority's own account (its IBAN and BIC in the directory), so a gateway
  is built per authority.
"""
from __future__ import annotations

from core.settings import Settings
from db.models import Authority
from domain.errors import RuleViolation
from gateways.bank import BankGateway, SepaFileGateway, SimulatedTreasury
from gateways.mail import MailGateway, OutboxFolder, SmtpGateway

BANKS = ("simulated", "sepa-file")


def bank_gateway(settings: Settings, authority: Authority | None = None) -> BankGateway:
    """The gateway that orders (and looks up) payments of `authority`'s grants."""
    if settings.bank == "simulated":
        return SimulatedTreasury(settings.treasury_path, fault_plan=settings.treasury_fault_plan)
    if settings.bank == "sepa-file":
        if authority is None:
            raise RuleViolation("authority", None, "virement SEPA : la collectivité débitrice est à préciser")
        if not authority.iban:
            raise RuleViolation(
                "authority.iban", authority.iban,
                f"virement SEPA impossible : le compte au Trésor de la collectivité « {authority.code} » "
                "n'est pas renseigné (ajouter iban et bic à la collectivité dans son dossier)")
        return SepaFileGateway(settings.payments_dir, debtor_name=authority.name, debtor_iban=authority.iban,
                               debtor_bic=authority.bic or None)
    raise RuleViolation("bank", settings.bank,
                        f"passerelle bancaire inconnue (GRANTFLOW_BANK) : attendu l'une de {', '.join(BANKS)}")


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
