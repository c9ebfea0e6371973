"""Verification of the twin: rules as data, incremental verification of change sets, full audits.

- ``verify_sandbox(store, branch_id)`` verifies a sandbox's change set against its base and
  stores the report with it (``latest_report``); ``verify_changes`` does the same for any
  change set over a live revision.
- ``audit(store)`` runs every rule over the whole twin.
- Rules live one family per module (``RULE_MODULES`` of ``mns.verify.engine``), each module
  exposing ``RULES``; ``load_rules()`` lists them.
"""

from __future__ import annotations

from mns.verify.audit import audit
from mns.verify.engine import RULE_MODULES, load_rules, verify_changes, verify_sandbox
from mns.verify.model import Finding, Report, Rule, Scope, Severity, compare
from mns.verify.reports import StoredReport, latest_report, store_report

__all__ = [
    "RULE_MODULES",
    "Finding",
    "Report",
    "Rule",
    "Scope",
    "Severity",
    "StoredReport",
    "audit",
    "compare",
    "latest_report",
    "load_rules",
    "store_report",
    "verify_changes",
    "verify_sandbox",
]
