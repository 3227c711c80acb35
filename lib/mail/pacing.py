"""Pacing: messages spread evenly so a mailbox never sees more than its limit a minute."""

from __future__ import annotations

import time
from collections.abc import Callable

from lib.config import Settings


class Pacer:
    """At most `per_minute` messages a minute (0: no limit), evenly spaced.

    Exchange Online accepts 30 a minute per mailbox; the clock and sleep are injectable so the
    pacing is tested without waiting.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self.clock = clock
        self.sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if self._next is not None and self._next > now:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def share(settings: Settings, processes: int) -> float:
    """One worker's part of MAIL_RATE_PER_MINUTE when `processes` send from the same mailbox
    (0: no limit). The outbox is never paced.
    """
    if settings.mail_transport == "outbox" or settings.mail_rate_per_minute <= 0:
        return 0.0
    return settings.mail_rate_per_minute / max(processes, 1)
