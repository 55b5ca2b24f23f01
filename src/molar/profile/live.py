"""Per-event profile refresh for ``molar serve``: a pipeline stage.

For every batch of live events the stage
1. classifies consult and review texts (the label goes into ``profile.text_sentiment``
   and onto the event as ``data["sentiment"]`` for the rules that follow);
2. recomputes the tags marked ``refresh: event`` and the lifecycle stage for just the
   patients in the batch — with the *same* SQL as the batch run, over the same inputs
   (which include the live event log), so a batch recompute after the same events gives
   the same values;
3. publishes them with history and returns derived events: ``tag.changed`` for every
   changed value and ``lifecycle.changed`` for a stage change.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from datetime import date, datetime

import pyarrow as pa

from molar.model.events import INBOUND_EVENT_TYPES, Event
from molar.profile.catalogue import Tag, load_catalogue
from molar.profile.inputs import INPUT_TABLES, build_inputs
from molar.profile.lifecycle import INPUTS, LifecycleConfig, compute_lifecycle, publish_lifecycle
from molar.profile.sentiment.aspects import complaint_aspects
from molar.profile.tagging import compute_tags, publish_tags
from molar.warehouse import Engine

_NAMESPACE = uuid.UUID("6f1c7c1e-2b1a-4c55-9b51-6d2d1f5c0a11")
TEXT_EVENTS = {"consult.message": ("consult_id", "consult"), "review.posted": ("review_id", "review")}


def inputs_read(tags: Sequence[Tag]) -> set[str]:
    """The input tables the tags' SQL names (a name that appears only in a comment costs a
    table built for nothing, never a table missing)."""
    return {name for name in INPUT_TABLES for tag in tags if re.search(rf"\b{name}\b", tag.sql)}


class LiveProfile:
    """Pipeline stage: ``LiveProfile()(engine, events) -> derived events``."""

    def __init__(
        self,
        tags: list[Tag] | None = None,
        lifecycle: LifecycleConfig | None = None,
        today: Callable[[], date] | None = None,
        classify: Callable[[list[str]], tuple[list[str], list[float]]] | None = None,
    ) -> None:
        catalogue = tags if tags is not None else load_catalogue()
        self.tags = [t for t in catalogue if t.refresh == "event" and t.dimension != "value"]
        self.value_tags = [t for t in catalogue if t.refresh == "event" and t.dimension == "value"]
        self.lifecycle = lifecycle or LifecycleConfig.load()
        self.inputs = inputs_read(self.tags + self.value_tags) | set(INPUTS)
        self._today = today
        self._classify = classify

    def classify(self, texts: list[str]) -> tuple[list[str], list[float]]:
        if self._classify is None:
            from molar.profile.sentiment import default_model

            model = default_model()
            self._classify = model.predict_proba
        return self._classify(texts)

    def __call__(self, engine: Engine, events: list[Event]) -> list[Event]:
        inbound = [e for e in events if e.type in INBOUND_EVENT_TYPES]
        if not inbound:
            return []
        self._score_texts(engine, inbound)
        ids = {e.golden_id for e in inbound}
        ids |= self._referrers(engine, inbound)
        as_of = self._today() if self._today else max(e.occurred_at for e in inbound).date()
        run_id = f"live-{max((e.seq or 0) for e in inbound)}"
        now = max(e.occurred_at for e in inbound)
        return self.refresh(engine, sorted(ids), as_of, run_id, now, cause=inbound)

    def refresh(
        self, engine: Engine, golden_ids: list[str], as_of: date, run_id: str, at: datetime,
        cause: list[Event] | None = None,
    ) -> list[Event]:
        """Recompute event-refreshed tags and stages for ``golden_ids``; returns derived events."""
        build_inputs(engine, as_of, golden_ids, tables=self.inputs)
        compute_tags(engine, self.tags, as_of)
        compute_lifecycle(engine, as_of, run_id, self.lifecycle)
        compute_tags(engine, self.value_tags, as_of, append=True)
        keys = [t.key for t in self.tags + self.value_tags]
        publish_tags(engine, run_id, at, keys=keys, scoped=True)
        changed = engine.rows(
            "SELECT golden_id, tag_key, old_value, value FROM tag_diff WHERE status <> 'same' ORDER BY golden_id, tag_key"
        )
        publish_lifecycle(engine, as_of, run_id, scoped=True)
        by_patient: dict[str, Event] = {}
        for e in cause or []:
            by_patient.setdefault(e.golden_id, e)
        derived: list[Event] = []
        for golden_id, key, old, new in changed:
            trigger = by_patient.get(golden_id)
            event_key = f"{golden_id}|{key}|{old}|{new}|{trigger.event_id if trigger else run_id}"
            if key == "lifecycle_stage":
                derived.append(Event(
                    event_id=f"lc-{uuid.uuid5(_NAMESPACE, event_key).hex[:20]}", type="lifecycle.changed",
                    golden_id=golden_id, occurred_at=at,
                    data={"from_stage": old, "to_stage": new, "cause_event_id": trigger.event_id if trigger else None},
                ))
            derived.append(Event(
                event_id=f"tg-{uuid.uuid5(_NAMESPACE, event_key).hex[:20]}", type="tag.changed",
                golden_id=golden_id, occurred_at=at,
                data={"tag_key": key, "old": old, "new": new},
            ))
        return derived

    def _referrers(self, engine: Engine, events: list[Event]) -> set[str]:
        """Referral events also change the referrer's social tags."""
        unionids = [e.data.get("referrer_unionid") for e in events if e.type == "app.action" and e.data.get("referrer_unionid")]
        direct = {e.data["referrer_golden_id"] for e in events if e.type == "app.action" and e.data.get("referrer_golden_id")}
        if not unionids:
            return direct
        marks = ", ".join("?" for _ in unionids)
        return direct | {r[0] for r in engine.rows(
            f"SELECT golden_id FROM identity.cluster WHERE source = 'wechat' AND source_patient_key IN ({marks})", unionids
        )}

    def _score_texts(self, engine: Engine, events: list[Event]) -> None:
        texts = [(e, *TEXT_EVENTS[e.type]) for e in events if e.type in TEXT_EVENTS and (e.data.get("text") or "").strip()]
        if not texts:
            return
        labels, confidences = self.classify([str(e.data["text"]) for e, _, _ in texts])
        rows = []
        for (event, id_field, kind), label, confidence in zip(texts, labels, confidences, strict=True):
            # Enrich the event in place so the rules after this stage see the sentiment.
            if isinstance(event.data, dict):
                event.data["sentiment"] = label
            rows.append((str(event.data.get(id_field) or event.event_id), kind, event.golden_id, event.occurred_at,
                         label, float(confidence)))
        ids = [r[0] for r in rows]
        engine.execute(
            f"DELETE FROM profile.text_sentiment WHERE source = 'live' AND text_id IN ({', '.join('?' for _ in ids)})", ids
        )
        engine.append("profile.text_sentiment", pa.table({
            "text_id": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "source": ["live"] * len(rows),
            "source_patient_key": [r[2] for r in rows],
            "occurred_at": pa.array([r[3] for r in rows], pa.timestamp("us")),
            "label": [r[4] for r in rows],
            "confidence": [r[5] for r in rows],
            "model_version": ["live"] * len(rows),
            "aspects": pa.array([complaint_aspects(e.data["text"]) if label == "complaint" else None
                                 for (e, _, _), label in zip(texts, labels, strict=True)], pa.list_(pa.string())),
        }))
