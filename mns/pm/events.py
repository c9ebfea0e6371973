"""Measurement events: the measurements each ``PmStore.add`` committed, handed to listeners after it commits.

Threshold monitoring and streaming reporting follow the twin's PM through this hook. Listeners
run in the thread of the write, after its transaction has committed, in commit order; they
should be quick (queue the work), and an exception in one is logged, never raised into the
write, which has already happened::

    stop = add_listener(lambda batch: queue.put(batch), store=pm_store)
    ...
    stop()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from mns.pm.model import Measurement

log = logging.getLogger("mns.pm")

MeasurementListener = Callable[[Sequence[Measurement]], None]

_lock = threading.Lock()
_listeners: list[tuple[MeasurementListener, Any]] = []


def add_listener(listener: MeasurementListener, *, store: Any = None) -> Callable[[], None]:
    """Call ``listener`` with every committed batch of ``store`` (a ``PmStore``; every store when None).

    Returns the function that removes it.
    """
    entry = (listener, store)
    with _lock:
        _listeners.append(entry)

    def remove() -> None:
        with _lock:
            if entry in _listeners:
                _listeners.remove(entry)

    return remove


def has_listeners(store: Any) -> bool:
    """Whether anyone follows ``store`` (so a writer can skip building the batch)."""
    with _lock:
        return any(only is None or only is store for _, only in _listeners)


def emit(batch: Sequence[Measurement], *, store: Any) -> None:
    """Hand a committed batch of ``store`` to its listeners."""
    with _lock:
        targets = [fn for fn, only in _listeners if only is None or only is store]
    for fn in targets:
        try:
            fn(batch)
        except Exception:
            log.exception("measurement listener %r failed on a batch of %d", fn, len(batch))
