"""Per-event CPU cost of sealing live event data, apart from HTTP and the machine's load.

The collector seals an event's personal fields before the event log
(``privacy.event_data.seal``) and encodes the record; the worker decodes a record for the
stages, opening the token. Each step is timed over N events of two kinds — consult.message
(free text: one token) and app.action (no personal field: no token) — against the same
step without sealing (the code before). Median of the runs, microseconds per event.

    uv run python benchmarks/realtime/bench_event_sealing.py --events 20000 --runs 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import datetime

from molar.privacy import event_data, keys
from molar.privacy.crypto import FieldCipher
from molar.realtime import records
from molar.realtime.schemas import data_fields

AT = datetime(2026, 11, 23, 9, 30)
DATA = {
    "consult.message": lambda i: {"consult_id": f"Q{i}", "channel": "chat",
                                  "text": f"我是欧阳明华，种植牙术后第{i % 9 + 1}天有点肿，电话139{i:08d}"},
    "app.action": lambda i: {"platform": "app", "action": "article_read", "target": f"A{i % 97}"},
}


def _cipher() -> FieldCipher:
    from molar.warehouse import open_warehouse

    engine = open_warehouse(path=":memory:")
    try:
        return FieldCipher(keys.open_keyring_from(None, engine))
    finally:
        engine.close()


def _encode(type_: str, i: int, data: dict, sealed: str | None) -> bytes:
    return records.encode(event_id=f"his:{i}", type=type_, golden_id="G0000000001", occurred_at=AT, data=data,
                          source="his", received_at=AT, provisional=False, sealed=sealed)


def _time(fn, n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - started) / n * 1e6


def _steps(cipher: FieldCipher, type_: str, make, n: int) -> dict:
    declared = data_fields(type_)
    payloads = [_encode(type_, i, *event_data.seal(cipher, f"his:{i}", make(i), declared)) for i in range(n)]
    plain_payloads = [_encode(type_, i, make(i), None) for i in range(n)]
    return {
        "collector: encode (before)": lambda i: _encode(type_, i, make(i), None),
        "collector: seal + encode": lambda i: _encode(type_, i, *event_data.seal(cipher, f"his:{i}", make(i), declared)),
        "worker: decode (before)": lambda i: records.decode(i, plain_payloads[i]),
        "worker: decode + open": lambda i: records.decode(i, payloads[i], cipher),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cipher = _cipher()
    for type_, make in DATA.items():
        steps = _steps(cipher, type_, make, args.events)
        for name, step in steps.items():
            median = statistics.median(_time(step, args.events) for _ in range(args.runs))
            print(f"{type_:16s} {name:28s} {median:7.1f} µs/event")


if __name__ == "__main__":
    main()
