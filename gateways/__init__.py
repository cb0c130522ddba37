"""The outside world behind small interfaces; nothing here knows the database or Prefect.

- `gateways.mail`: `Mail`, `MailGateway`, `MailUnavailable` (retryable) / `MailRejected`
  (final), `build_mime`; its two implementations are `gateways.outbox_folder.OutboxFolder`
  (the default) and `gateways.smtp.SmtpGateway`.
- `gateways.templates`: `render(kind, context)` -> (subject, text, html), in French,
  with an authority's override folder searched first.
- `gateways.bank`: `PaymentOrder`, `OrderOutcome`, `BankGateway`, `TreasuryUnavailable`
  (retryable; a rejection is an outcome); its two implementations are
  `gateways.treasury_simulated.SimulatedTreasury` and `gateways.sepa_file.SepaFileGateway`.
- `gateways.documents`: the one writer of documents for people: `write_evaluation`,
  `write_workbook` / `write_csv` (French spreadsheets), `write_bundle` (audit zips).
"""
