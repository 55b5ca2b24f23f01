"""Smart-toothbrush telemetry: one line per device per synced day, last ~6 months only.

The plaque index (Silness-Löe scale, 0-3) follows the owner's periodontal risk; about one
owner in six has sustained high plaque.  Days without brushing report zero sessions and
no plaque estimate; unsynced days have no line at all.
"""

from __future__ import annotations

import numpy as np

from molar.synth import identifiers
from molar.synth.life import Life
from molar.synth.output import Output
from molar.synth.people import People
from molar.synth.world import World
from molar.synth.writers import lines

WINDOW_DAYS = 182


def telemetry_chunk(rng, world: World, ppl: People, life: Life, unionid: np.ndarray,
                    out: Output) -> tuple[np.ndarray, np.ndarray]:
    """Write the brushing days; return (toothbrush owners, their mean sessions a day)."""
    end = world.end
    own = np.flatnonzero(life.toothbrush)
    k = own.size
    if k == 0:
        return own, np.empty(0)
    device = "TB" + np.char.upper(identifiers.random_tokens(rng, k, 10, alphabet="hex").astype(str)).astype(object)
    first_day = end - WINDOW_DAYS + 1
    bought = np.where(rng.random(k) < 0.5, first_day, first_day + rng.integers(0, WINDOW_DAYS, k))
    mean_sessions = rng.uniform(0.9, 2.1, k)
    dur = rng.uniform(70, 150, k)
    press = rng.uniform(0, 0.4, k)
    high = rng.random(k) < 0.08 + 0.25 * life.perio[own]
    base = 0.3 + 1.6 * life.perio[own] + np.where(high, 0.9, 0.0)
    days = np.arange(first_day, end + 1)
    d = days.size
    valid = (days[None, :] >= bought[:, None]) & (rng.random((k, d)) >= 0.08)
    sessions = np.minimum(rng.poisson(mean_sessions[:, None], (k, d)), 4)
    seconds = np.clip(sessions * rng.normal(dur[:, None], 20, (k, d)), 0, 7200).astype(np.int64)
    alerts = rng.poisson(press[:, None] * sessions)
    drift = np.cumsum(rng.normal(0, 0.03, (k, d)), axis=1)
    plaque = np.clip(base[:, None] - 0.15 * (sessions - 2) + drift + rng.normal(0, 0.2, (k, d)), 0, 3)
    plaque = np.round(plaque, 2)
    oi, di = np.nonzero(valid)  # device-major, date ascending
    s = sessions[oi, di]
    pl = plaque[oi, di].astype(object)
    pl[s == 0] = "null"
    cal = world.cal
    text = lines(
        '{{"device_id":"{}","unionid":"{}","date":"{}","sessions":{},"seconds":{},"pressure_alerts":{},'
        '"plaque_index":{}}}',
        device[oi], unionid[own][oi], cal.iso[cal.idx(days[di])], s, seconds[oi, di], alerts[oi, di], pl,
    )
    out.emit_lines("sources/telemetry/brushing.jsonl", np.array(text, dtype=object), device[oi])
    return own, mean_sessions
