"""Field-level encryption: AES-GCM per value, bound to its table, column and record.

A value is stored as the text token ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``.
The associated data is ``table | column | record key``: a token copied to another row or
column does not decrypt, and neither does one altered or read with another key.

Nonces are 96 random bits per value (NIST SP 800-38D limits one key to 2^32 random
nonces; ``molar privacy rotate-key --reencrypt`` starts a new data key long before that).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from molar.privacy.keys import NONCE_BYTES, Keyring
from molar.warehouse import Engine

VERSION = "v1"
SEP = "\x1f"


class DecryptionError(ValueError):
    """A stored value cannot be decrypted; the message names the value and the likely cause."""


def associated_data(table: str, column: str, record_key: object) -> bytes:
    return f"{table}{SEP}{column}{SEP}{record_key}".encode()


def as_list(data: Any) -> list:
    """A Python list from an Arrow array or chunked array, a pandas Series or any iterable."""
    if isinstance(data, pa.Array | pa.ChunkedArray):
        return data.to_pylist()
    values = data.tolist() if hasattr(data, "tolist") else list(data)
    return [None if v is None or v != v else v for v in values]   # pandas writes a missing value as NaN


@dataclass
class FieldCipher:
    """Encrypts with the keyring's active data key; decrypts with whichever key a token names."""

    keyring: Keyring

    def __post_init__(self) -> None:
        self._aead = {k: AESGCM(v) for k, v in self.keyring.keys.items() if self.keyring.kinds[k] == "data"}
        self.key_id = self.keyring.active["data"]

    def encrypt(self, value: str | None, table: str, column: str, record_key: object) -> str | None:
        return self.encrypt_column([value], table, column, [record_key])[0]

    def decrypt(self, token: str | None, table: str, column: str, record_key: object) -> str | None:
        return self.decrypt_column([token], table, column, [record_key])[0]

    def encrypt_column(self, values: Any, table: str, column: str, record_keys: Any) -> list[str | None]:
        """Tokens for a column of values (None stays None), one record key per value."""
        plain, keys = as_list(values), as_list(record_keys)
        if len(plain) != len(keys):
            raise ValueError(f"{len(plain)} values but {len(keys)} record keys")
        seal = self._aead[self.key_id].encrypt
        nonces = os.urandom(NONCE_BYTES * len(plain))
        prefix = f"{table}{SEP}{column}{SEP}"
        head = f"{VERSION}.{self.key_id}."
        b64 = base64.urlsafe_b64encode
        out: list[str | None] = []
        append = out.append
        for i, (value, key) in enumerate(zip(plain, keys, strict=True)):
            if value is None:
                append(None)
                continue
            nonce = nonces[i * NONCE_BYTES:(i + 1) * NONCE_BYTES]
            sealed = seal(nonce, str(value).encode(), (prefix + str(key)).encode())
            append(head + b64(nonce + sealed).decode("ascii"))
        return out

    def decrypt_column(self, tokens: Any, table: str, column: str, record_keys: Any) -> list[str | None]:
        """Plain values for a column of tokens; a token that does not open raises
        :class:`DecryptionError` naming the record."""
        sealed, keys = as_list(tokens), as_list(record_keys)
        if len(sealed) != len(keys):
            raise ValueError(f"{len(sealed)} tokens but {len(keys)} record keys")
        prefix = f"{table}{SEP}{column}{SEP}"
        unb64 = base64.urlsafe_b64decode
        out: list[str | None] = []
        append = out.append
        for token, key in zip(sealed, keys, strict=True):
            if token is None:
                append(None)
                continue
            try:
                version, key_id, body = token.split(".", 2)
                aead = self._aead[key_id] if version == VERSION else None
            except (ValueError, KeyError, AttributeError):
                aead = None
                key_id = "?"
            if aead is None:
                raise DecryptionError(
                    f"{table}.{column} of record {key!r} is not a token of this warehouse (key {key_id} "
                    "unknown or the value was never encrypted) / 该字段不是本数据仓库的密文")
            try:
                blob = unb64(body)
                append(aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], (prefix + str(key)).encode()).decode())
            except (InvalidTag, ValueError) as exc:
                raise DecryptionError(
                    f"{table}.{column} of record {key!r} does not decrypt with data key {key_id}: the value "
                    "was altered, copied from another record or column, or the key is wrong "
                    "/ 密文无法解密：已被篡改、来自其他记录或字段，或密钥不对") from exc
        return out

    def encrypt_arrow(self, values: pa.Array | pa.ChunkedArray, table: str, column: str,
                      record_keys: pa.Array | pa.ChunkedArray) -> pa.Array:
        return _present_only(self.encrypt_column, values, table, column, record_keys)

    def decrypt_arrow(self, tokens: pa.Array | pa.ChunkedArray, table: str, column: str,
                      record_keys: pa.Array | pa.ChunkedArray) -> pa.Array:
        return _present_only(self.decrypt_column, tokens, table, column, record_keys)


def _present_only(run, values: pa.Array | pa.ChunkedArray, table: str, column: str,
                  record_keys: pa.Array | pa.ChunkedArray) -> pa.Array:
    """``run`` over the non-NULL values only, NULLs kept in place: most sealed columns
    (problem details, addresses, nicknames) are mostly empty, and the Python loop is the cost."""
    if len(values) != len(record_keys):
        raise ValueError(f"{len(values)} values but {len(record_keys)} record keys")
    if values.null_count == 0:
        return pa.array(run(values, table, column, record_keys), pa.string())
    present = pc.is_valid(values)
    done = pa.array(run(pc.filter(values, present), table, column, pc.filter(record_keys, present)), pa.string())
    return pc.replace_with_mask(pa.nulls(len(values), pa.string()), _flat(present), done)


def _flat(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


@dataclass(frozen=True)
class EncryptedColumn:
    """A warehouse column holding tokens, the SQL expression of its record key, and the SQL
    condition of the rows whose value is a token (all non-NULL values when empty)."""

    table: str
    column: str
    record_key: str
    where: str = ""


# Every column written encrypted today; `rotate-key --reencrypt` walks this list.
ENCRYPTED_COLUMNS: tuple[EncryptedColumn, ...] = (
    EncryptedColumn("privacy.consent_event", "evidence", "event_id"),
    *(EncryptedColumn("std.patient", c, "source || ':' || source_patient_key")
      for c in ("name", "name_pinyin", "mobile", "id_number", "address", "wechat_unionid", "wechat_openid", "nickname")),
    # free text names people and phone numbers; a message carries its rendered text and variables
    EncryptedColumn("std.consult", "text", "consult_id"),
    EncryptedColumn("std.review", "text", "review_id"),
    EncryptedColumn("ops.outbox", "rendered_text", "message_id"),
    EncryptedColumn("ops.outbox", "payload", "message_id"),
    EncryptedColumn("ops.delivered_local", "body", "message_id"),   # the gateway request, address included
    *(EncryptedColumn("identity.patient", c, "golden_id")
      for c in ("name", "name_pinyin", "mobile", "id_number", "address", "wechat_unionid", "wechat_openid")),
    EncryptedColumn("identity.name_parse", "parts", "text_bi || ':' || nickname_field"),
    # live events: personal data fields as one token (molar.privacy.event_data); provisional
    # people's keys (their blind indexes beside them for lookups)
    EncryptedColumn("ops.rt_event", "sealed", "event_id"),
    EncryptedColumn("ops.provisional_identity", "mobile", "provisional_id"),
    EncryptedColumn("ops.provisional_identity", "unionid", "provisional_id"),
)


def reencrypt(engine: Engine, cipher: FieldCipher, columns: Sequence[EncryptedColumn] = ENCRYPTED_COLUMNS,
              batch: int = 50_000) -> dict[str, int]:
    """Move every token not under the active data key to it; returns values moved per column.

    Rows that share a record key (one cell quarantined for two reasons) hold the same value
    and get the same new token."""
    moved: dict[str, int] = {}
    head = f"{VERSION}.{cipher.key_id}."
    for col in columns:
        name = f"{col.table}.{col.column}"
        moved[name] = 0
        value = '"' + col.column.replace('"', '""') + '"'
        where = f"{value} IS NOT NULL AND NOT starts_with({value}, ?)" + (f" AND ({col.where})" if col.where else "")
        while True:
            rows = engine.arrow(
                f"SELECT CAST({col.record_key} AS VARCHAR) AS k, any_value({value}) AS t FROM {col.table} "
                f"WHERE {where} GROUP BY k LIMIT {batch}", [head])
            if rows.num_rows == 0:
                break
            plain = cipher.decrypt_column(rows["t"], col.table, col.column, rows["k"])
            fresh = cipher.encrypt_column(plain, col.table, col.column, rows["k"])
            update = pa.table({"k": rows["k"], "t": pa.array(fresh, pa.string())})
            with engine.transaction():
                engine.execute("CREATE OR REPLACE TEMP TABLE _reencrypt (k VARCHAR, t VARCHAR)")
                engine.append("_reencrypt", update)
                engine.execute(f"UPDATE {col.table} SET {value} = r.t FROM _reencrypt r "
                               f"WHERE CAST({col.table}.{col.record_key} AS VARCHAR) = r.k AND {where}", [head])
                engine.execute("DROP TABLE _reencrypt")
            left = engine.scalar(f"SELECT count(*) FROM {col.table} WHERE {where} AND CAST({col.record_key} AS VARCHAR) "
                                 "IN (SELECT unnest(?::VARCHAR[]))", [head, rows["k"].to_pylist()])
            if left:
                raise RuntimeError(f"{name}: {left} values were not moved to the new key (their record key "
                                   f"{col.record_key} does not find them)")
            moved[name] += rows.num_rows
    return moved
