"""Heartbeats of one subscription (TS 28.532 notifyHeartbeat): every period, and one at once on trigger.

The period is the HeartbeatControl's ``heartbeatNtfPeriod`` (seconds; 0 means none); a change
of it restarts the timer. A heartbeat is sent once, without retries: a heartbeat that does not
arrive is what tells the recipient that something is wrong. Heartbeats are not in the revision
log, so they are neither ordered with the CM notifications nor resent after a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("mns.notify")

Send = Callable[[str, int], Awaitable[None]]
"""Sends one heartbeat: (HeartbeatControl DN, period)."""


class Heartbeat:
    """The heartbeat timer of one subscription."""

    def __init__(self, *, send: Send, unit_s: float = 1.0) -> None:
        self.send = send
        self.unit_s = unit_s
        self.control: str | None = None
        self.period = 0
        self.sent = 0
        self._changed = asyncio.Event()
        self._sends: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the timer."""
        self._timer = asyncio.create_task(self._run(), name="mns-heartbeat")

    def configure(self, control: str | None, period: int) -> None:
        """Follow the HeartbeatControl ``control`` (None: there is none) with its period."""
        if (control, period) != (self.control, self.period):
            self.control, self.period = control, period
            self._changed.set()

    def fire(self) -> None:
        """Send one heartbeat now (triggerHeartbeatNtf)."""
        if self.control is not None:
            self._spawn(self.control, self.period)

    async def stop(self) -> None:
        """Stop the timer and any heartbeat on its way."""
        tasks = [t for t in (self._timer, *self._sends) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._timer = None

    def _spawn(self, control: str, period: int) -> None:
        task = asyncio.create_task(self._send(control, period), name="mns-heartbeat-send")
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)

    async def _send(self, control: str, period: int) -> None:
        try:
            await self.send(control, period)
            self.sent += 1
        except Exception as exc:  # a lost heartbeat is the signal; nothing to retry
            log.info("heartbeat from %s not delivered: %s", control, exc)

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            control, period = self.control, self.period
            if control is None or period <= 0:
                await self._changed.wait()
                continue
            try:
                async with asyncio.timeout(period * self.unit_s):
                    await self._changed.wait()
            except TimeoutError:
                self._spawn(control, period)
