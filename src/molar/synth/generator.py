"""Orchestration: the static world, then people in chunks, then the manifest.

Chunk ``i`` draws everything from ``np.random.SeedSequence([seed, i])`` and appends to the
open writers, so memory stays flat in the number of people and output is byte-identical
for the same configuration.  Rendering is split in two parts (A: HIS, membership,
consults, reviews, telemetry, person truth; B: booking workbooks, WeChat) that simulate
the same chunks; from ``WORKER_MIN_PEOPLE`` people up, part B runs in a second process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from molar.synth import geo, region
from molar.synth.booking import CHANNEL_ZH, STATUS_ZH, plan_booking, write_booking
from molar.synth.calendar import to_date
from molar.synth.care import plan_visits
from molar.synth.config import SynthConfig
from molar.synth.engagement import engagement_chunk
from molar.synth.his import PAY_ZH, his_ids, his_write, write_static
from molar.synth.identifiers import UniqueRegistry, mobile_strings
from molar.synth.life import NEVER, REASONS, plan_lives
from molar.synth.marketing import marketing_chunk, start_marketing, write_spend
from molar.synth.member import LEVEL_ZH, member_chunk
from molar.synth.output import CSV_FILES, PART_DIR, Output
from molar.synth.people import ROLE_NAMES, make_people
from molar.synth.postop import PostopState, postop_chunk
from molar.synth.serials import Serials
from molar.synth.telemetry import telemetry_chunk
from molar.synth.wechat import plan_wechat, write_wechat
from molar.synth.world import DEPT_ZH, FINAL_STREAM, build_world

Progress = Callable[[str, int, int], None]

PERSONS_SCHEMA = pa.schema([
    ("person_id", pa.string()), ("name", pa.string()), ("sex", pa.string()), ("birth_date", pa.date32()),
    ("mobile", pa.string()), ("contact_mobile", pa.string()), ("old_mobile", pa.string()),
    ("mobile_changed_on", pa.date32()), ("id_number", pa.string()), ("district", pa.string()),
    ("address", pa.string()), ("household_id", pa.string()), ("household_role", pa.string()),
    ("twin", pa.bool_()), ("friend_group", pa.int64()), ("referred_by", pa.string()),
    ("home_clinic_id", pa.string()), ("registered_on", pa.date32()), ("new_in_window", pa.bool_()),
    ("in_his", pa.bool_()), ("in_booking", pa.bool_()), ("in_member", pa.bool_()), ("in_wechat", pa.bool_()),
    ("lead", pa.bool_()), ("unionid", pa.string()), ("has_toothbrush", pa.bool_()),
    ("recall_habit", pa.bool_()), ("ortho_start", pa.date32()), ("implant_date", pa.date32()),
    ("periodontal_risk", pa.float64()), ("caries_risk", pa.float64()), ("price_sensitivity", pa.float64()),
    ("distance_km", pa.float64()), ("churned", pa.bool_()), ("churn_date", pa.date32()),
    ("churn_reason", pa.string()),
])


# Below this many people a second process costs more (start-up, imports) than it saves.
WORKER_MIN_PEOPLE = 100_000
WORKER_ARGS = ("-m", "molar.synth.worker")

STREAMS = ("people", "life", "care", "wechat", "booking", "his", "member", "engagement", "telemetry",
           "booking_out", "wechat_out")


@dataclass
class SynthResult:
    out_dir: Path
    manifest: dict


def _dates(days: np.ndarray, valid: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int64).astype("datetime64[D]"), type=pa.date32(), mask=~valid)


def _opt_str(values: np.ndarray) -> pa.Array:
    v = np.asarray(values, dtype=object)
    return pa.array(v, type=pa.string(), mask=np.array([not s for s in v.tolist()], dtype=bool))


def _streams(seed: int, chunk: int) -> dict[str, np.random.Generator]:
    """Independent generators per concern, all derived from ``SeedSequence([seed, chunk])``.

    Rendering (noise, formats) draws from its own streams, so a part that only needs the
    plan (keys, visit numbers) skips rendering without changing anything downstream.
    """
    children = np.random.SeedSequence([seed, chunk]).spawn(len(STREAMS))
    return {name: np.random.default_rng(ss) for name, ss in zip(STREAMS, children, strict=True)}


def generate(config: SynthConfig, progress: Progress | None = None) -> SynthResult:
    """Generate the synthetic chain described by ``config`` into ``config.out_dir``.

    ``progress(stage, done, total)`` is called after each chunk with stage ``"people"``
    (part A) and ``"booking+wechat"`` (part B; with a worker process only at its start and
    end).
    """
    out_dir = config.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("sources", "truth", ".xlsx_tmp", PART_DIR):
        shutil.rmtree(out_dir / stale, ignore_errors=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)
    use_worker = config.workers > 1 and config.patients >= WORKER_MIN_PEOPLE
    worker = _start_worker(config) if use_worker else None
    try:
        world = build_world(config)
        out = Output(out_dir, "A", config.seed, config.sheet_row_limit, PERSONS_SCHEMA)
        write_static(out, world)
        final_rng = np.random.default_rng(np.random.SeedSequence([config.seed, FINAL_STREAM]))
        pop_rows = region.write_population(out_dir / "sources/region/district_population.parquet", final_rng,
                                           config.window_start.year - 1, config.end_date.year)
        stats, reasons = run_part(config, "A", world, out, progress)
        if worker is None:
            part_b = run_part_b(config, world, progress)
        else:
            if progress:
                progress("booking+wechat", 0, config.patients)
            part_b = _finish_worker(worker, out_dir)
            worker = None
            if progress:
                progress("booking+wechat", config.patients, config.patients)
        out.merge_part(part_b)
        summary = out.close()
    finally:
        if worker is not None:
            worker[0].kill()
            worker[0].wait()
            worker[1].close()
    shutil.rmtree(out_dir / PART_DIR, ignore_errors=True)
    counts = {**summary["rows"], **part_b["rows"]}
    counts["sources/region/district_population.parquet"] = pop_rows
    sheets = {**summary["sheets"], **part_b["sheets"]}
    manifest = _manifest(config, world, out, counts, sheets, stats, reasons)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                           encoding="utf-8")
    return SynthResult(out_dir=out_dir, manifest=manifest)


def run_part(config: SynthConfig, part: str, world, out: Output, progress: Progress | None = None):
    """Simulate every chunk; render part ``"A"`` (HIS, member, consult, reviews, telemetry,
    person truth) or part ``"B"`` (booking workbooks, WeChat)."""
    mobiles, ids = UniqueRegistry(), UniqueRegistry()
    serials = Serials(world.start - 800, world.horizon + 60, world.n_clinics)
    n_chunks = -(-config.patients // config.chunk_size)
    stats = {"persons": 0, "his_patients": 0, "leads": 0, "booking": 0, "member": 0, "wechat": 0,
             "toothbrush": 0, "churned": 0, "referred": 0, "visits": 0, "households": 0, "twins": 0}
    reasons = dict.fromkeys(REASONS.tolist(), 0)
    stage = "people" if part == "A" else "booking+wechat"
    marketing = start_marketing(config.seed, world) if part == "A" else None
    postop = PostopState()
    if progress:
        progress(stage, 0, config.patients)
    done = 0
    for ci in range(n_chunks):
        n = min(config.chunk_size, config.patients - done)
        rng = _streams(config.seed, ci)
        out.begin_chunk(ci)
        ppl = make_people(rng["people"], world, n, done, serials, mobiles, ids)
        life = plan_lives(rng["life"], world, ppl)
        vis = plan_visits(rng["care"], world, ppl, life)
        wx = plan_wechat(rng["wechat"], world, ppl, life, vis)
        hid = his_ids(world, ppl, life, vis, serials)
        bk = plan_booking(rng["booking"], world, ppl, life, vis, serials)
        if part == "A":
            spend = his_write(rng["his"], world, ppl, life, vis, hid, wx.coupon, wx.coupon_value, out, serials)
            mk = member_chunk(rng["member"], world, ppl, life, vis, spend, out, serials)
            engagement_chunk(rng["engagement"], world, ppl, life, vis, hid.key, bk.ckey, mk, wx.unionid, out, serials)
            brushing = telemetry_chunk(rng["telemetry"], world, ppl, life, wx.unionid, out)
            _write_persons(out, world, ppl, life, wx)
            marketing_chunk(config.seed, ci, world, ppl, life, vis, hid, marketing, out)
            postop_chunk(config.seed, ci, world, ppl, life, vis, hid, brushing, postop, out)
        else:
            write_booking(rng["booking_out"], world, ppl, bk, hid.visit_id, out)
            write_wechat(rng["wechat_out"], world, ppl, wx, out)
        out.end_chunk()
        stats["persons"] += n
        stats["his_patients"] += int(life.his.sum())
        stats["leads"] += int(life.lead.sum())
        stats["booking"] += int(life.booking.sum())
        stats["member"] += int(life.member.sum())
        stats["wechat"] += int(life.wechat.sum())
        stats["toothbrush"] += int(life.toothbrush.sum())
        stats["churned"] += int(life.churned.sum())
        stats["referred"] += int((life.referrer >= 0).sum())
        stats["visits"] += vis.n
        stats["households"] += int(np.unique(ppl.household).size)
        stats["twins"] += int(ppl.twin.sum())
        for r, c in zip(*np.unique(REASONS[life.reason[life.churned]], return_counts=True), strict=True):
            reasons[str(r)] += int(c)
        done += n
        if progress:
            progress(stage, done, config.patients)
    if marketing is not None:
        write_spend(config.seed, world, marketing, out)
    return stats, reasons


def run_part_b(config: SynthConfig, world=None, progress: Progress | None = None) -> dict:
    """Render part B into ``config.out_dir``; its shared truth goes to ``.part_b/``."""
    world = world or build_world(config)
    out = Output(config.out_dir, "B", config.seed, config.sheet_row_limit)
    run_part(config, "B", world, out, progress)
    # the same JSON round trip as from a worker process, so both paths merge identically
    return json.loads(json.dumps(out.close()))


def _start_worker(config: SynthConfig):
    """Part B in a second process (``python -m molar.synth.worker``); returns (process, log file)."""
    part_dir = config.out_dir / PART_DIR
    part_dir.mkdir(parents=True, exist_ok=True)
    log = open(part_dir / "worker.log", "wb")  # noqa: SIM115
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[2])  # the directory holding the molar package
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    proc = subprocess.Popen([sys.executable, *WORKER_ARGS], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=log, env=env)
    proc.stdin.write(config.to_json().encode("utf-8"))
    proc.stdin.close()
    return proc, log


def _finish_worker(worker, out_dir: Path) -> dict:
    proc, log = worker
    code = proc.wait()
    log.close()
    part_dir = out_dir / PART_DIR
    if code != 0:
        tail = (part_dir / "worker.log").read_text(encoding="utf-8", errors="replace")[-4000:]
        raise RuntimeError(f"the part-B worker (booking, WeChat) failed with exit code {code}:\n{tail}")
    return json.loads((part_dir / "summary.json").read_text(encoding="utf-8"))


def _write_persons(out: Output, world, ppl, life, wx) -> None:
    n = ppl.n
    owner = ppl.contact_owner
    ref = life.referrer
    out.truth("truth/persons.parquet", {
        "person_id": ppl.person_id, "name": ppl.name, "sex": np.where(ppl.sex == 1, "M", "F").astype(object),
        "birth_date": _dates(ppl.birth, np.ones(n, dtype=bool)),
        "mobile": _opt_str(np.where(ppl.mobile > 0, mobile_strings(ppl.mobile), "")),
        "contact_mobile": _opt_str(mobile_strings(ppl.mobile[owner])),
        "old_mobile": _opt_str(np.where(ppl.old_mobile > 0, mobile_strings(ppl.old_mobile), "")),
        "mobile_changed_on": _dates(ppl.changed_on, ppl.changed_on > 0),
        "id_number": ppl.id_number, "district": np.array(geo.DISTRICT_NAMES, dtype=object)[ppl.district],
        "address": ppl.address, "household_id": np.array([f"H{h + 1:08d}" for h in ppl.household.tolist()], dtype=object),
        "household_role": ROLE_NAMES[ppl.role], "twin": ppl.twin,
        "friend_group": pa.array(ppl.friend_group, type=pa.int64(), mask=ppl.friend_group < 0),
        "referred_by": _opt_str(np.where(ref >= 0, ppl.person_id[np.maximum(ref, 0)], "")),
        "home_clinic_id": _opt_str(np.where(life.his, world.clinic_id[life.home], "")),
        "registered_on": _dates(life.reg, np.ones(n, dtype=bool)), "new_in_window": life.new,
        "in_his": life.his, "in_booking": life.booking, "in_member": life.member, "in_wechat": life.wechat,
        "lead": life.lead, "unionid": _opt_str(wx.unionid), "has_toothbrush": life.toothbrush,
        "recall_habit": life.recall, "ortho_start": _dates(life.ortho_start, life.ortho_start >= 0),
        "implant_date": _dates(life.implant_day, life.implant_day >= 0),
        "periodontal_risk": np.round(life.perio, 4), "caries_risk": np.round(life.caries, 4),
        "price_sensitivity": np.round(life.price_sens, 4), "distance_km": np.round(life.dist_km, 2),
        "churned": life.churned, "churn_date": _dates(life.churn, life.churn < NEVER),
        "churn_reason": REASONS[life.reason],
    })


def _manifest(config: SynthConfig, world, out: Output, counts, sheets, stats, reasons) -> dict:
    files = {}
    for rel, rows in sorted(counts.items()):
        entry: dict[str, object] = {"rows": int(rows)}
        if rel in CSV_FILES:
            spec = CSV_FILES[rel]
            entry.update(format="csv", encoding=spec.encoding, line_ending="CRLF" if spec.crlf else "LF",
                         header=list(spec.header))
        elif rel.endswith(".xlsx"):
            entry.update(format="xlsx", sheets=sheets.get(rel, []))
        elif rel.endswith(".jsonl"):
            entry.update(format="jsonl", encoding="utf-8")
        else:
            entry.update(format="parquet")
        files[rel] = entry
    rates = config.noise.as_dict()
    invalid_keys = ("invalid_date", "invalid_phone_length", "invalid_id_checksum", "negative_amount",
                    "future_visit_date", "duplicate_row")
    return {
        "generator": "molar.synth",
        "format_version": 1,
        "config": config.as_dict(),
        "window": {"start": to_date(world.start).isoformat(), "end": to_date(world.end).isoformat()},
        "files": files,
        "noise": {
            "rates": {k: v for k, v in rates.items() if k not in invalid_keys},
            "realised": out.noise.as_dict(),
        },
        "invalid_rows": {
            "rates": {k: rates[k] for k in invalid_keys},
            "realised": out.invalid.as_dict(),
        },
        "truth": {**stats, "churn_reasons": reasons, "clinics": world.n_clinics,
                  "doctors": int(world.doctor_id.size)},
        "mappings": {
            "departments": DEPT_ZH, "appointment_channels": CHANNEL_ZH, "appointment_statuses": STATUS_ZH,
            "payment_methods": PAY_ZH, "member_levels": LEVEL_ZH,
            "sex_his": {"男": "M", "女": "F", "M": "M", "F": "F"},
            "wechat_sex": {"1": "M", "2": "F", "0": None},
        },
    }
