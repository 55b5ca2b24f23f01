"""Field encryption, decryption and blind-index speed on a column of N mobile numbers.

    uv run python benchmarks/privacy/bench_fields.py --values 1000000 --runs 3

Each step runs ``--runs`` times; the median is reported. The floor is a plain copy of
the same Arrow column to a Python list and back (what any per-value work costs at least).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import numpy as np
import pyarrow as pa

from molar.privacy.blind_index import BlindIndexer
from molar.privacy.crypto import FieldCipher
from molar.privacy.keys import Keyring


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    n = args.values
    mobiles = pa.array([f"+86138{x:08d}" for x in rng.integers(0, 10**8, n)], pa.string())
    record_keys = pa.array([f"his:P{i:07d}" for i in range(n)], pa.string())
    cipher = FieldCipher(Keyring("bench", {"d": bytes(32)}, {"d": "data"}, {"data": "d"}))
    indexer = BlindIndexer(bytes(range(32)))
    tokens = cipher.encrypt_arrow(mobiles, "std.patient", "mobile", record_keys)

    steps = {
        "floor: copy column to Python and back": lambda: pa.array(mobiles.to_pylist(), pa.string()),
        "encrypt (AES-256-GCM, record key as AAD)": lambda: cipher.encrypt_arrow(
            mobiles, "std.patient", "mobile", record_keys),
        "decrypt": lambda: cipher.decrypt_arrow(tokens, "std.patient", "mobile", record_keys),
        "blind index (standardise + HMAC-SHA256)": lambda: indexer.column("mobile", mobiles),
    }
    print(f"{n:,} values, {args.runs} runs, Python {platform.python_version()}, {platform.machine()}")
    print(f"token length: {len(tokens[0].as_py())} characters for a {len(mobiles[0].as_py())}-character value")
    print("| step | median s | fields/s |\n|---|---:|---:|")
    for name, step in steps.items():
        times = []
        for _ in range(args.runs):
            t = time.perf_counter()
            step()
            times.append(time.perf_counter() - t)
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} | {n / median:,.0f} |")


if __name__ == "__main__":
    main()
