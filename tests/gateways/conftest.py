"""Fixtures for the gateway tests.

The SMTP server fixture lives in tests/smtp_server.py, which the main conftest loads as
a plugin. Importing it here as well lets this folder run alone; pytest accepts the same
fixture from both places (the nearer one wins, and it is the same code).
"""
from __future__ import annotations

import importlib

try:
    _smtp = importlib.import_module("tests.smtp_server")
except ModuleNotFoundError:  # run from inside tests/, or with tests/ on sys.path
    _smtp = importlib.import_module("smtp_server")

smtp_server = _smtp.smtp_server
SmtpTestServer = _smtp.SmtpTestServer
