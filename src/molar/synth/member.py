"""The membership system (会员卡): cards, levels, stored value, points, packages.

UTF-8 with BOM, as Windows tools export it.  Cards are opened at a visit (or before the
window for long-standing patients); the level follows spending; children's cards carry a
parent's phone.
"""

from __future__ import annotations

import numpy as np

from molar.synth import noise as nz
from molar.synth.care import Visits
from molar.synth.life import Life
from molar.synth.output import Output
from molar.synth.people import People
from molar.synth.serials import Serials
from molar.synth.world import World, between

LEVEL_ZH = {"regular": "普通会员", "silver": "银卡", "gold": "金卡", "platinum": "白金卡"}
LEVEL_ZH_ARR = np.array(list(LEVEL_ZH.values()), dtype=object)


def member_chunk(rng, world: World, ppl: People, life: Life, vis: Visits, spend: np.ndarray, out: Output,
                 serials: Serials) -> np.ndarray:
    rates = world.config.noise
    cal = world.cal
    start, end = world.start, world.end
    n = ppl.n
    mem = life.member
    # opening day: before the window for long-standing patients, else at one of their visits
    first_visit = np.full(n, -1, dtype=np.int64)
    cnt = np.bincount(vis.p, minlength=n)
    if vis.n:
        fv = np.ones(vis.n, dtype=bool)
        fv[1:] = vis.p[1:] != vis.p[:-1]
        first_visit[vis.p[fv]] = np.flatnonzero(fv)
    pick = first_visit + (rng.random(n) * np.maximum(cnt, 1) * 0.5).astype(np.int64)
    pick = np.where(cnt > 0, pick, -1)
    early = (~life.new) & ((rng.random(n) < 0.55) | (cnt == 0))
    opened = np.where(early, between(rng, life.reg, start), -1)
    ok_visit = (~early) & (cnt > 0)
    opened = np.where(ok_visit, vis.day[np.maximum(pick, 0)] if vis.n else opened, opened)
    mem = mem & (opened >= 0)
    club = np.where(ok_visit, vis.clinic[np.maximum(pick, 0)] if vis.n else life.home, life.home)
    second = mem & (rng.random(n) < rates.member_second_card) & (opened < end - 60)
    opened2 = np.where(second, between(rng, np.maximum(opened, start) + 30, end - 10), -1)
    club2 = np.where(second, rng.integers(0, world.n_clinics, n), -1)
    club2 = np.where(world.clinic_open[np.maximum(club2, 0)] <= opened2, club2, club)

    m0 = np.flatnonzero(mem)
    m1 = np.flatnonzero(second)
    mp = np.concatenate([m0, m1])
    mrec = np.concatenate([np.zeros(m0.size, dtype=np.int64), np.ones(m1.size, dtype=np.int64)])
    mopen = np.concatenate([opened[m0], opened2[m1]])
    mclub = np.concatenate([club[m0], club2[m1]])
    order = np.lexsort((mp, mopen))
    mp, mrec, mopen, mclub = mp[order], mrec[order], mopen[order], mclub[order]
    k = mp.size
    keys = np.array([f"8860{i:08d}" for i in serials.take("member_card", k).tolist()], dtype=object)
    table = "member/members"
    flags = nz.new_flags(k)
    out.noise.flag(table, "second_record", mrec == 1, flags)
    name = nz.noisy_names(rng, ppl.name[mp], ppl.surname[mp], ppl.given[mp], rates, flags, out.noise, table)
    phone = nz.noisy_mobiles(rng, ppl.phone_at(mp, mopen), rates, flags, out.noise, table,
                             missing=rates.mobile_missing, formatted=rates.mobile_formatted,
                             transposed=rates.mobile_transposed)
    bd = nz.shift_birth(rng, cal, ppl.birth[mp], rates.birth_date_error, flags, out.noise, table)
    sex = np.where(ppl.sex[mp] == 1, "男", "女").astype(object)
    ids = nz.blank_ids(rng, ppl.id_number[mp], rates.id_missing, flags, out.noise, table)
    spend = spend[mp] * np.where(mrec == 1, 0.3, 1.0)
    lvl = np.searchsorted(np.array([3000, 10000, 30000]), spend * rng.uniform(0.7, 1.4, k), side="right")
    balance = np.where(rng.random(k) < 0.45, 0.0, np.round(rng.lognormal(6.8, 1.0, k) / 10) * 10)
    balance = np.minimum(balance, 50000)
    points = (spend * rng.uniform(0.8, 1.0, k)).astype(np.int64) + rng.integers(0, 200, k)
    pkg = np.full(k, "", dtype=object)
    u = rng.random(k)
    left = rng.integers(0, 4, k).astype("U1").astype(object)
    pkg = np.where(life.recall[mp] & (u < 0.5), "洁牙年卡(剩余" + left + "次)", pkg)
    pkg = np.where((ppl.age[mp] < 13) & (u < 0.6), "儿童涂氟套餐", pkg)
    pkg = np.where((life.ortho_start[mp] >= 0) & (u < 0.7), "正畸保障计划", pkg)
    pkg = np.where((life.implant_day[mp] >= 0) & (u < 0.7), "种植牙关爱卡", pkg)
    pkg = np.where((pkg == "") & (u > 0.85), "家庭口腔护理套餐", pkg).astype(object)
    cols = [keys, name, phone, cal.fmt(bd, 0), sex, ids, cal.fmt(mopen, 0), LEVEL_ZH_ARR[lvl],
            np.array([f"{b:.2f}" for b in balance.tolist()], dtype=object), points.astype(str).astype(object), pkg,
            world.clinic_short[mclub]]
    out.record("member", "members", keys, ppl.person_id[mp], flags)
    out.emit("sources/member/members.csv", cols, 0, defects=[
        ("invalid_phone_length", rates.invalid_phone_length, nz.plain_mobile(2), nz.set_wrong_length(2)),
        ("invalid_id_checksum", rates.invalid_id_checksum, nz.valid_id(5), nz.set_bad_checksum(5)),
        ("invalid_date", rates.invalid_date, nz.everything, nz.set_impossible_dates(3)),
    ], dup_rate=rates.duplicate_row)
    key = np.full((n, 2), "", dtype=object)
    key[mp, mrec] = keys
    return key
