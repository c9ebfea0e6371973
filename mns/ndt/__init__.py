"""The network digital twin NRM (TS 28.561) served by the twin: NDTFunction, NDTJob, NDTReport.

The classes are the project's own YANG module (``yang_models/twin-mns-ndt.yang``, in the class
registry like the 3GPP ones), so they are created, read and notified through ProvMnS as any
object is. ``mns.ndt.runner`` runs each NDTJob once on a sandbox of the live twin and writes the
job's progress and its NDTReport back; ``mns.ndt.model`` is what the runner reads and writes.
"""

from __future__ import annotations

from mns.ndt.model import NDT_FUNCTION, NDT_JOB, NDT_REPORT, SUPPORTED, Capability, Status, Verdict
from mns.ndt.runner import NdtRunner, RunnerSettings, install

__all__ = [
    "NDT_FUNCTION",
    "NDT_JOB",
    "NDT_REPORT",
    "SUPPORTED",
    "Capability",
    "NdtRunner",
    "RunnerSettings",
    "Status",
    "Verdict",
    "install",
]
