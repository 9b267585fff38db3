"""Validate stage: the rules of GRDF's specification applied to each ``RequestRow``
(pure, no I/O, data-driven by the referential).

Public face: ``FileValidator`` (one per input file: ``check(row)``, ``finish()``,
``cleaned_values(row)``) and ``rules_markdown()`` (the rule table of the docs). The rule
families are private modules found by name: ``identity_rules`` (PCE, postal code,
references, duplicates), ``code_rules`` (intervention codes, motifs, express),
``index_rules``, ``appointment_rules`` (DateRdv, PlageRdv), ``contact_rules``,
``length_rules``, with ``rule_catalogue`` (every rule code and its meaning) and ``dates``.
"""

from pipeline.validate.rule_catalogue import rules_markdown
from pipeline.validate.validator import FileValidator

__all__ = ["FileValidator", "rules_markdown"]
