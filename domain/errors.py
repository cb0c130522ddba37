"""The one error type the rules raise: French, naming the field, the value and the rule."""
from __future__ import annotations


class RuleViolation(ValueError):
    """A business rule refused the input.

    `field` is the dotted path of the offending field (e.g. "deliberation.present"),
    `value` what was given, `rule` the rule in French with its legal source when there is
    one. str() gives the full French sentence shown to operations staff.
    """

    def __init__(self, field: str, value: object, rule: str) -> None:
        self.field = field
        self.value = value
        self.rule = rule
        super().__init__(f"champ « {field} » = {value!r} : {rule}")

    def within(self, prefix: str) -> "RuleViolation":
        """The same violation with its field placed under `prefix` (e.g. the grant's)."""
        return RuleViolation(f"{prefix}.{self.field}" if prefix else self.field, self.value, self.rule)
