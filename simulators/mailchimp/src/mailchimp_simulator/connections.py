"""Mailchimp's throttle: at most N simultaneous connections per API key (10 on the real API).

A request holds its key's slot from the moment it is let in until its answer is written, so a
per-request latency (:attr:`ConnectionLimiter` users sleep while holding the slot) makes the
limit bite exactly as it does against the real service.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["ConnectionLimiter", "mask_credential"]


def mask_credential(credential: str) -> str:
    """An API key or token as shown in state and logs: its last four characters and its
    data-center suffix (``…a1b2-us6``)."""
    key, dash, dc = credential.rpartition("-")
    if not dash:
        return "…" + credential[-4:]
    return f"…{key[-4:]}-{dc}"


class ConnectionLimiter:
    """Counts the requests in flight per credential and refuses one beyond ``limit``."""

    def __init__(self, limit: int = 10) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self.in_flight: dict[str, int] = {}
        #: The most requests a credential ever had in flight at once.
        self.peak: dict[str, int] = {}
        #: How many requests of a credential were refused with 429.
        self.refused: dict[str, int] = {}

    def acquire(self, credential: str) -> bool:
        """Take a slot for a request; ``False`` when the credential has none left."""
        with self._lock:
            current = self.in_flight.get(credential, 0)
            if current >= self.limit:
                self.refused[credential] = self.refused.get(credential, 0) + 1
                return False
            self.in_flight[credential] = current + 1
            self.peak[credential] = max(self.peak.get(credential, 0), current + 1)
            return True

    def release(self, credential: str) -> None:
        with self._lock:
            left = self.in_flight.get(credential, 0) - 1
            if left > 0:
                self.in_flight[credential] = left
            else:
                self.in_flight.pop(credential, None)

    def reset_counters(self) -> None:
        """Forget peaks and refusals (requests in flight keep their slots)."""
        with self._lock:
            self.peak.clear()
            self.refused.clear()

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "limit": self.limit,
                "in_flight": {mask_credential(k): v for k, v in self.in_flight.items()},
                "peak": {mask_credential(k): v for k, v in self.peak.items()},
                "refused": {mask_credential(k): v for k, v in self.refused.items()},
            }
