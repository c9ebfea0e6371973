"""The ``filter`` of the alarm list: an XPath 1.0 predicate over one alarm record.

TS 28.532 says only that the filter is XPath 1.0 (``TS28623_ComDefs.yaml`` ``Filter``). Here
it is what one would write between the brackets of a step selecting an alarm record, with the
record's members as child elements (the TS 32.161 JSON-to-XPath mapping) and ``alarmId`` added::

    perceivedSeverity="CRITICAL"
    ackState="UNACKNOWLEDGED" and starts-with(objectInstance, "SubNetwork=RAN,SubNetwork=North")
    alarmType="ENVIRONMENTAL_ALARM" or thresholdinfo/observedValue > 80
    not(comments) and contains(additionalText, "fan")

The expression is compiled by the ProvMnS filter compiler (``mns.nrm.filter``), so it has the
same grammar (``= != < <= > >=``, ``and``, ``or``, ``not()``, ``contains()``, ``starts-with()``,
paths into nested members, existence tests) and the same errors for what lies outside it: a 400
naming the construct and its position. ``< <= > >=`` compare numbers, as in XPath 1.0, so times
cannot be compared with them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from mns.errors import BadRequest
from mns.nrm.filter import Filter, parse_filter
from mns.nrm.xpath import tokenize

_PREFIX: Final = "*/attributes["
_POSITION: Final = re.compile(r"\(at position (\d+)\)")


@dataclass(frozen=True)
class AlarmFilter:
    """A compiled alarm-list filter."""

    text: str
    _filter: Filter = field(repr=False, compare=False)

    def matches(self, alarm_id: str, record: Mapping[str, Any]) -> bool:
        """Whether the alarm (its JSON form) passes the filter."""
        return self._filter.matches("AlarmRecord", alarm_id, {**record, "alarmId": alarm_id})


def parse_alarm_filter(text: str) -> AlarmFilter:
    """Compile an alarm-list filter; BadRequest names what it cannot honour and where."""
    if not text.strip():
        raise BadRequest("filter: the expression is empty")
    depth = 0
    for token in tokenize(text):
        if token.kind == "sym" and token.value in "[]":
            depth += 1 if token.value == "[" else -1
            if depth < 0:
                raise BadRequest(f"filter: ']' without its '[' (at position {token.pos})")
    try:
        compiled = parse_filter(f"{_PREFIX}{text}]")
    except BadRequest as exc:
        message = _POSITION.sub(lambda m: f"(at position {max(1, int(m.group(1)) - len(_PREFIX))})", exc.message)
        raise BadRequest(message) from None
    return AlarmFilter(text, compiled)
