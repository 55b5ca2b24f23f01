"""One run of a rule for one patient (a journey) and the keys that make its steps idempotent."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def short_hash(text: str, n: int = 20) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


@dataclass
class Journey:
    rule_key: str
    golden_id: str
    occurrence: str
    rule_version: str
    trigger_type: str
    trigger_event_id: str | None
    trigger_at: datetime
    anchor_at: datetime
    wait_started_at: datetime | None
    context: dict[str, Any]
    status: str = "running"
    step: str | None = None

    def key(self, step: str) -> str:
        return f"{self.rule_key}|{self.golden_id}|{self.occurrence}|{step}"
