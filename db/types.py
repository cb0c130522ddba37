"""Column types that keep money exact and instants in UTC on SQLite and PostgreSQL alike."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator


class Money(TypeDecorator[Decimal]):
    """Euros as integer cents in the database, `Decimal` in Python: never a float.

    SQLite has no exact decimal type (NUMERIC is stored as REAL), so cents it is, everywhere.
    """

    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: sa.Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("montant en float refusé : utiliser Decimal")
        cents = Decimal(value) * 100
        if cents != cents.to_integral_value():
            raise ValueError(f"montant {value} : plus de deux décimales")
        return int(cents)

    def process_result_value(self, value: int | None, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / 100).quantize(Decimal("0.01"))


class Instant(TypeDecorator[dt.datetime]):
    """An aware instant, stored in UTC (SQLite would otherwise drop the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("instant sans fuseau horaire refusé")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)
