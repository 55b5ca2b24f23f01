"""Envelope encryption keys: one master key outside the warehouse, data keys inside it.

The master key (32 random bytes, base64) comes from ``MOLAR_MASTER_KEY`` or
``master_key`` in ``molar.toml`` and never touches the warehouse. Without either, a
laptop default: a key file beside the warehouse (``molar.duckdb.key``, mode 0600),
created when a new warehouse first needs a key; an in-memory warehouse gets a key that
lives as long as the process. Data keys are random
AES-256 keys stored in ``privacy.data_key`` wrapped (AES-GCM) by the master key, each
with the fingerprint of the master key that wrapped it. Rotating the master key re-wraps
the data keys only (no data is rewritten); a new data key for new data is a second,
optional step (``rotate --reencrypt``, see :mod:`molar.privacy.crypto`).

Two kinds of data key: ``data`` (field encryption) and ``blind_index`` (the root of the
HMAC keys for blind indexes). The blind-index root is a stored key rather than derived
from the master key, so that rotating the master key does not change any blind index.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from molar.config import Settings, load_settings
from molar.warehouse import Engine

KEY_BYTES = 32
NONCE_BYTES = 12
KINDS = ("data", "blind_index")
HOW_TO_FIX = ("create one with `molar privacy keygen` and set it as MOLAR_MASTER_KEY "
              "(or master_key in molar.toml) / 用 `molar privacy keygen` 生成主密钥并设置为 MOLAR_MASTER_KEY")


class KeyConfigError(ValueError):
    """A key is missing, malformed or does not fit the warehouse; the message says what to do."""


def new_master_key() -> str:
    """A fresh master key as base64 text (what ``molar privacy keygen`` prints)."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def parse_master_key(text: str | None, where: str = "MOLAR_MASTER_KEY") -> bytes:
    if not text or not text.strip():
        raise KeyConfigError(f"no master key configured: {HOW_TO_FIX}")
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyConfigError(f"{where} is not valid base64; {HOW_TO_FIX}") from exc
    if len(raw) != KEY_BYTES:
        raise KeyConfigError(f"{where} decodes to {len(raw)} bytes, a master key has {KEY_BYTES}; {HOW_TO_FIX}")
    return raw


def master_key_from(settings: Settings) -> bytes:
    """The configured master key (environment over molar.toml, see molar.config)."""
    return parse_master_key(settings.master_key)


_PROCESS_KEY = secrets.token_bytes(KEY_BYTES)   # for in-memory warehouses, which die with the process


def key_file(warehouse_path: str | Path) -> Path:
    """The laptop default's key file of a warehouse file: beside it, ``<name>.key``."""
    return Path(f"{warehouse_path}.key")


def master_key_for(engine: Engine, settings: Settings | None = None) -> bytes:
    """The master key of ``engine``: configured (env or molar.toml), else the key file beside
    the warehouse, created (0600) only while the warehouse holds no data key yet."""
    settings = settings or load_settings()
    if settings.master_key:
        return master_key_from(settings)
    path = getattr(engine, "path", ":memory:")
    if path == ":memory:":
        return _PROCESS_KEY
    file = key_file(path)
    if file.exists():
        return parse_master_key(file.read_text(encoding="ascii"), str(file))
    if engine.scalar("SELECT count(*) FROM privacy.data_key"):
        raise KeyConfigError(f"the warehouse {path} has encrypted data but no master key is configured and "
                             f"there is no key file {file}: set MOLAR_MASTER_KEY to the key it was created with "
                             "/ 未配置主密钥，且数据仓库旁没有密钥文件")
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(new_master_key() + "\n")
    return parse_master_key(file.read_text(encoding="ascii"), str(file))


def fingerprint(master: bytes) -> str:
    """A short public name of a master key: says which key wrapped a data key, reveals nothing."""
    return hmac.new(master, b"molar master key fingerprint", hashlib.sha256).hexdigest()[:16]


def _wrap_aad(key_id: str, kind: str) -> bytes:
    return f"molar data key|{key_id}|{kind}".encode()


def wrap(master: bytes, key_id: str, kind: str, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, key, _wrap_aad(key_id, kind))


def unwrap(master: bytes, key_id: str, kind: str, wrapped: bytes) -> bytes:
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_aad(key_id, kind))
    except InvalidTag as exc:
        raise KeyConfigError(f"data key {key_id} cannot be unwrapped with the configured master key "
                        f"(fingerprint {fingerprint(master)}): the row was altered, or it belongs to "
                        "another master key") from exc


@dataclass
class Keyring:
    """The unwrapped data keys of one warehouse, for one process; never written anywhere."""

    master_id: str
    keys: dict[str, bytes] = field(repr=False)
    kinds: dict[str, str]
    active: dict[str, str]   # kind -> key ID new data is written with

    def key(self, key_id: str) -> bytes:
        try:
            return self.keys[key_id]
        except KeyError:
            raise KeyConfigError(f"data key {key_id} is not in privacy.data_key of this warehouse: the value "
                            "was encrypted in another warehouse, or its key row was deleted") from None


def _new_key_id(kind: str) -> str:
    return ("d" if kind == "data" else "b") + secrets.token_hex(4)


def add_data_key(engine: Engine, master: bytes, kind: str = "data", now: datetime | None = None) -> str:
    """Create, wrap and store a new key of ``kind``; it becomes the active one."""
    if kind not in KINDS:
        raise ValueError(f"key kind {kind!r}: one of {', '.join(KINDS)}")
    key_id = _new_key_id(kind)
    engine.execute(
        "INSERT INTO privacy.data_key (key_id, kind, wrapped, master_id, created_at) VALUES (?, ?, ?, ?, ?)",
        [key_id, kind, wrap(master, key_id, kind, secrets.token_bytes(KEY_BYTES)), fingerprint(master),
         now or datetime.now()],
    )
    return key_id


def open_keyring(engine: Engine, master: bytes) -> Keyring:
    """Unwrap every data key of the warehouse; creates the first key of each kind if missing."""
    rows = engine.rows("SELECT key_id, kind, wrapped, master_id, retired_at FROM privacy.data_key "
                       "ORDER BY created_at, key_id")
    mine = fingerprint(master)
    others = sorted({r[3] for r in rows if r[3] != mine})
    if others:
        raise KeyConfigError(f"the warehouse's data keys were wrapped by master key {', '.join(others)}, but the "
                        f"configured master key is {mine}: set MOLAR_MASTER_KEY to the key in use "
                        "(after `molar privacy rotate-key`, the new one) / 主密钥与数据仓库不匹配")
    missing = [k for k in KINDS if not any(r[1] == k for r in rows)]
    if missing:
        with engine.transaction():
            for kind in missing:
                add_data_key(engine, master, kind)
        return open_keyring(engine, master)
    keys = {r[0]: unwrap(master, r[0], r[1], bytes(r[2])) for r in rows}
    kinds = {r[0]: r[1] for r in rows}
    active: dict[str, str] = {}
    for key_id, kind, _w, _m, retired_at in rows:   # newest unretired key of each kind wins
        if retired_at is None:
            active[kind] = key_id
    return Keyring(mine, keys, kinds, active)


def open_keyring_from(settings: Settings | None, engine: Engine) -> Keyring:
    """The keyring of ``engine`` opened with its master key (see :func:`master_key_for`)."""
    return open_keyring(engine, master_key_for(engine, settings))


def rewrap(engine: Engine, old_master: bytes, new_master: bytes) -> int:
    """Re-wrap every data key under ``new_master`` in one transaction; returns keys re-wrapped.

    Data encrypted with the data keys is untouched and stays readable with the new master.
    """
    rows = engine.rows("SELECT key_id, kind, wrapped FROM privacy.data_key")
    new_id = fingerprint(new_master)
    rewrapped = [(wrap(new_master, key_id, kind, unwrap(old_master, key_id, kind, bytes(w))), key_id)
                 for key_id, kind, w in rows]
    with engine.transaction():
        for wrapped, key_id in rewrapped:
            engine.execute("UPDATE privacy.data_key SET wrapped = ?, master_id = ? WHERE key_id = ?",
                           [wrapped, new_id, key_id])
    return len(rewrapped)
