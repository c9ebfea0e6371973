"""Performance management: measurement series, PM files (TS 32.435 / TS 28.532) and file reporting."""

from __future__ import annotations

from mns.pm.model import Measurement
from mns.pm.store import PmFile, PmStore

__all__ = ["Measurement", "PmFile", "PmStore"]
