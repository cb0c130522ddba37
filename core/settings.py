"""Settings, from the environment (prefix GRANTFLOW_), with zero-configuration defaults.

The embedded default keeps everything under ./var: the SQLite store, the mail outbox
folder, the payment files and the simulated treasury.
"""
from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.convention import CONVENTION_THRESHOLD, PAYMENT_DAYS
from domain.deliberation import CONVOCATION_CLEAR_DAYS
from domain.obligations import ANSWER_DAYS, ReminderPolicy
from domain.refund import TITRE_FLOOR


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GRANTFLOW_", extra="ignore")

    home: Path = Path("var")
    database_url: str = ""  # default: sqlite file under `home`

    # Mail: no SMTP host means the outbox folder (one .eml per message).
    mail_from: str = "subventions@grantflow.example.org"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_password_block: str | None = None  # name of a Prefect Secret block
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    templates_dir: Path | None = None  # an authority's own templates, searched first

    # The audit journal's HMAC key, never stored in the database: the value, or the name of a
    # Prefect Secret block holding it; neither: a key file generated under `home`.
    journal_key: SecretStr | None = None
    journal_key_block: str | None = None
    # Append-only file of the journal's chain heads, the anchor outside the database.
    journal_anchors: Path | None = None

    # Payments: "simulated" (a treasury that remembers every key) or "sepa-file".
    bank: str = "simulated"
    treasury_fault_plan: Path | None = None

    # Configurable rules (DOMAIN.md): their legal defaults are written once, in domain/.
    convention_threshold: Decimal = CONVENTION_THRESHOLD
    convocation_clear_days: int = CONVOCATION_CLEAR_DAYS
    shift_deadlines_to_working_day: bool = True
    report_answer_days: int = ANSWER_DAYS
    signature_days: int = 30  # no legal delay: the authority's own practice
    reminder_before_days: int = ReminderPolicy.before_days
    reminder_escalation_days: tuple[int, ...] = ReminderPolicy.escalation_days
    payment_days_after_notification: int = PAYMENT_DAYS
    wait_for_legality_control: bool = False
    titre_floor: Decimal = TITRE_FLOOR
    titre_payment_days: int = 30  # a titre de recette is paid within 30 days (then the next working day)
    # A changed IBAN/BIC/holder applies after this many days unless a second operator
    # confirms it sooner (domain.bank_change); payments to the association wait meanwhile.
    bank_change_delay_days: int = 15
    # Payments: instalments claimed per transaction by a payment run (one bank batch per run).
    payment_claim_batch: int = 500
    # The daily sweep: parts of a large day run at once on PostgreSQL (SQLite: one at a time).
    sweep_workers: int = 2

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'grantflow.db').resolve()}"

    @property
    def shown_database_url(self) -> str:
        """The store's URL as it may be printed or logged: its password masked."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            return make_url(self.resolved_database_url).render_as_string(hide_password=True)
        except ArgumentError:
            return "(adresse de base illisible)"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def payments_dir(self) -> Path:
        return self.home / "payments"

    @property
    def treasury_path(self) -> Path:
        return self.home / "treasury.sqlite"

    @property
    def anchors_path(self) -> Path:
        return self.journal_anchors or self.home / "journal-anchors.jsonl"

    @property
    def artifacts_dir(self) -> Path:
        return self.home / "documents"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
