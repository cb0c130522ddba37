"""The configured bank gateway (setting GRANTFLOW_BANK): the one place that chooses it.

- "simulated" (default): `SimulatedTreasury` in `settings.treasury_path`, following the
  fault plan of `settings.treasury_fault_plan` (a JSON file, read at every call, so a
  worker process and a test share it);
- "sepa-file": `SepaFileGateway` writing pain.001 files into `settings.payments_dir`; the
  debtor is the authority's own account (its IBAN and BIC in the directory), so a gateway
  is built per authority.
"""
from __future__ import annotations

from db.models import Authority
from domain.errors import RuleViolation
from gateways.bank import BankGateway, SepaFileGateway, SimulatedTreasury
from grantflow.settings import Settings

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
