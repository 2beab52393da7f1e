"""The SKY API's throttling, per subscription key, on the simulator clock.

* A **rate limit**: at most ``rate_limit_per_second`` calls in one clock second; the next one
  gets 429 with ``Retry-After`` (seconds to the next second, at least 1).
* A **daily quota**: at most ``daily_quota`` calls per UTC day; then 403 with ``Retry-After``
  (seconds to the next UTC midnight) until the quota is replenished.

Both are off (``None``) unless configured. A call refused by either does not count against
either. Only calls to the API count: the OAuth endpoints are not throttled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from re_nxt_simulator.errors import GatewayError
from syncframe.clock import Clock

__all__ = ["Throttle"]


@dataclass(slots=True)
class _Usage:
    second: int = -1
    in_second: int = 0
    day: date | None = None
    in_day: int = 0
    total: int = 0
    refused: dict[int, int] = field(default_factory=dict)


class Throttle:
    """Counts calls per subscription key and refuses those over a limit."""

    def __init__(
        self,
        clock: Clock,
        *,
        rate_limit_per_second: int | None = None,
        daily_quota: int | None = None,
    ) -> None:
        self.clock = clock
        self.rate_limit_per_second = rate_limit_per_second
        self.daily_quota = daily_quota
        self._usage: dict[str, _Usage] = {}

    @property
    def rate_limit_per_second(self) -> int | None:
        return self._rate

    @rate_limit_per_second.setter
    def rate_limit_per_second(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"rate_limit_per_second must be at least 1 (or null), not {value}")
        self._rate = value

    @property
    def daily_quota(self) -> int | None:
        return self._quota

    @daily_quota.setter
    def daily_quota(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"daily_quota must be at least 1 (or null), not {value}")
        self._quota = value

    def reset(self) -> None:
        """Forget every count (the limits stay)."""
        self._usage.clear()

    def admit(self, key: str) -> None:
        """Count one call of ``key``, or raise the gateway's 403 (quota) or 429 (rate)."""
        now = self.clock.now().astimezone(UTC)
        usage = self._usage.setdefault(key, _Usage())
        today = now.date()
        if usage.day != today:
            usage.day, usage.in_day = today, 0
        second = math.floor(now.timestamp())
        if usage.second != second:
            usage.second, usage.in_second = second, 0
        if self._quota is not None and usage.in_day >= self._quota:
            usage.refused[403] = usage.refused.get(403, 0) + 1
            midnight = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
            wait = max(1, math.ceil((midnight - now).total_seconds()))
            hours, rest = divmod(wait, 3600)
            clock_text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
            raise GatewayError(
                403,
                f"Out of call volume quota. Quota will be replenished in {clock_text}.",
                retry_after=wait,
            )
        if self._rate is not None and usage.in_second >= self._rate:
            usage.refused[429] = usage.refused.get(429, 0) + 1
            wait = max(1, math.ceil(second + 1 - now.timestamp()))
            raise GatewayError(
                429, f"Rate limit is exceeded. Try again in {wait} seconds.", retry_after=wait
            )
        usage.in_second += 1
        usage.in_day += 1
        usage.total += 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "rate_limit_per_second": self._rate,
            "daily_quota": self._quota,
            "usage": [
                {
                    "subscription_key": _masked(key),
                    "calls_today": usage.in_day,
                    "calls_total": usage.total,
                    "refused_429": usage.refused.get(429, 0),
                    "refused_403": usage.refused.get(403, 0),
                }
                for key, usage in self._usage.items()
            ],
        }


def _masked(key: str) -> str:
    """A key as the state shows it: enough to tell keys apart, not enough to use one."""
    return key[:4] + "…" if len(key) > 4 else "…"
