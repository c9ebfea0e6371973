"""A TS 28.532 ProvMnS conformance suite anyone can run against any producer.

:func:`run` creates its own test subtree under a fresh root SubNetwork, reads it with every
scope, selection, filter and response media type, patches it with the four patch media types,
replaces and deletes, provokes errors, and removes the subtree again. It holds every response
against TS28532_ProvMnS.yaml (status codes, Content-Types), every error body against the
ComDefs ``ErrorResponse``, and every returned object against its own class schema from the
official 3GPP OpenAPI files, in whichever naming dialect the producer speaks. The answer is a
:class:`Report` of rows (check, passed, severity, evidence).

Modules: ``schemas`` (the official files), ``spelling`` (dialects), ``subtree`` (the test
objects), ``client`` (recorded HTTP exchanges), ``checks`` (the judging), ``scenario`` (the
steps), ``report`` (the table), ``runner`` (the entry points).
"""

from __future__ import annotations

from mns.conformance.report import ERROR, WARNING, Report, Row
from mns.conformance.runner import conformance, run
from mns.conformance.schemas import SpecsNotFound

__all__ = ["ERROR", "WARNING", "Report", "Row", "SpecsNotFound", "conformance", "run"]
