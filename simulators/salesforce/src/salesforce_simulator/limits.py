"""The org's daily API request limit, counted over a rolling 24 hours on the simulator clock.

Salesforce counts every REST call against the org's ``DailyApiRequests`` allocation over the
last 24 hours; once it is used up, calls answer 403 ``REQUEST_LIMIT_EXCEEDED`` until old calls
fall out of the window. Calls are counted per minute, so memory stays flat however many there
are.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from syncframe.clock import Clock

__all__ = ["DEFAULT_DAILY_API_REQUESTS", "ApiUsage"]

#: An Enterprise Edition org's base allocation (it grows with licences in a real org).
DEFAULT_DAILY_API_REQUESTS: Final = 100_000
_WINDOW: Final = timedelta(hours=24)


@dataclass(slots=True)
class _Minute:
    start: datetime
    calls: int


class ApiUsage:
    """Calls made in the last 24 hours, against a limit that can be changed at any time."""

    def __init__(self, clock: Clock, limit: int = DEFAULT_DAILY_API_REQUESTS) -> None:
        if limit < 0:
            raise ValueError(f"daily_api_requests must be 0 or more, not {limit}")
        self.clock = clock
        self.limit = limit
        self._minutes: deque[_Minute] = deque()
        self._total = 0

    def _minute(self) -> datetime:
        return self.clock.now().replace(second=0, microsecond=0)

    def _expire(self) -> None:
        horizon = self._minute() - _WINDOW
        while self._minutes and self._minutes[0].start <= horizon:
            self._total -= self._minutes.popleft().calls

    @property
    def used(self) -> int:
        """Calls counted in the last 24 hours."""
        self._expire()
        return self._total

    def try_count(self) -> bool:
        """Count one call; ``False`` (and nothing counted) when the limit is used up."""
        if self.used >= self.limit:
            return False
        self._add(1)
        return True

    def _add(self, count: int) -> None:
        minute = self._minute()
        if self._minutes and self._minutes[-1].start == minute:
            self._minutes[-1].calls += count
        else:
            self._minutes.append(_Minute(minute, count))
        self._total += count

    def set_used(self, used: int) -> None:
        """Pretend ``used`` calls were made just now (other integrations of the org)."""
        if used < 0:
            raise ValueError(f"used must be 0 or more, not {used}")
        self._minutes.clear()
        self._total = 0
        if used:
            self._add(used)

    def header(self) -> str:
        """The ``Sforce-Limit-Info`` header: ``api-usage=18/5000``."""
        return f"api-usage={self.used}/{self.limit}"
