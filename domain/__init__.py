"""Pure business rules of French local-authority grants to associations.

No I/O, no clock (today is always a parameter), money in Decimal. Every refusal is a
`domain.errors.RuleViolation` whose French rule names its legal source. Modules:
money, identifiers, departments, calendar, deliberation, acts, convention, lifecycle,
obligations, refund, indicators.
"""
