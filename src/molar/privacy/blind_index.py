"""Blind indexes: keyed HMAC-SHA256 of a standardised identifier, for lookups without plaintext.

Equal identifiers (in any spelling the standardiser accepts) give equal indexes; without
the key an index says nothing about the value, and every kind has its own key, so the
mobile index of a number never equals the unionid index of the same text. Keys come from
HKDF-SHA256 over the warehouse's ``blind_index`` key (see :mod:`molar.privacy.keys`),
one ``info`` label per kind.

``name`` and ``pinyin`` key identity's name-parse cache and let identity count equal names
(evaluation, term frequencies) without storing them.

``mobile_name`` (mobile + name) exists because a mobile alone is shared within families:
children are registered with a parent's phone, so erasing by mobile alone would erase
the whole family.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from molar.privacy.crypto import as_list
from molar.privacy.keys import Keyring

INDEX_BYTES = 12   # 96 bits: no collision in practice, and less to leak than a full digest
# the std layer's form, any well-formed prefix (13x–19x): skips the full standardiser
_STANDARD_MOBILE = re.compile(r"\+86(1[3-9][0-9]{9})")


@cache
def _reference() -> ModuleType:
    # imported on first use: molar.ingest imports this module (ingest seals what it loads)
    from molar.ingest.standardise import reference

    return reference


def standard_mobile(value: object) -> str | None:
    """Mainland mobile as 11 digits (+86, spaces, dashes, full-width digits removed); a
    well-formed number with an unallocated prefix keeps its digits (it still matches)."""
    if isinstance(value, str) and (standard := _STANDARD_MOBILE.fullmatch(value)):
        return standard.group(1)
    result = _reference().mobile(value)
    return result.value[3:] if result.value else None


def standard_id_number(value: object) -> str | None:
    """Resident ID number without spaces, full-width folded, upper-case X."""
    if value is None:
        return None
    reference = _reference()
    text = reference.remove_ws(reference.fold(str(value), "0123456789Xx")).upper()
    return text or None


def standard_text(value: object) -> str | None:
    text = None if value is None else str(value).strip()
    return text or None


def standard_source_key(source: object, key: object) -> str | None:
    source, key = standard_text(source), standard_text(key)
    return f"{source}:{key}" if source and key else None


def standard_mobile_name(mobile: object, name: object) -> str | None:
    number, person = standard_mobile(mobile), standard_text(name)
    return f"{number}|{_reference().remove_ws(person)}" if number and person else None


STANDARDISERS: dict[str, Callable[..., str | None]] = {
    "mobile": standard_mobile,
    "id_number": standard_id_number,
    "unionid": standard_text,
    "source_key": standard_source_key,
    "mobile_name": standard_mobile_name,
    "name": standard_text,     # a name as identity holds it (the name-parse cache, real names)
    "pinyin": standard_text,   # pinyin of a name or given name (term frequencies of identity explain)
    "block_key": standard_text,   # a linker blocking key with no kind of its own (sorted mobile digits)
}
KINDS = tuple(STANDARDISERS)


def derive_key(root: bytes, kind: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"molar blind index v1 {kind}".encode()).derive(root)


class BlindIndexer:
    """One function per kind: ``mobile(v)``, ``id_number(v)``, ``unionid(v)``,
    ``source_key(source, key)``, ``mobile_name(mobile, name)``; ``column(kind, *cols)``
    indexes whole columns."""

    def __init__(self, root: bytes) -> None:
        self._keys = {kind: derive_key(root, kind) for kind in KINDS}

    @classmethod
    def from_keyring(cls, keyring: Keyring) -> BlindIndexer:
        return cls(keyring.key(keyring.active["blind_index"]))

    def column(self, kind: str, *columns: Any) -> list[str | None]:
        """Indexes of one or two columns (Arrow, pandas or lists); None where the value is
        missing or not valid for the kind."""
        standardise = STANDARDISERS[kind]
        key = self._keys[kind]
        digest = hmac.digest
        out: list[str | None] = []
        for args in zip(*(as_list(c) for c in columns), strict=True):
            text = standardise(*args)
            out.append(None if text is None else digest(key, text.encode(), "sha256")[:INDEX_BYTES].hex())
        return out

    def mobile(self, value: object) -> str | None:
        return self.column("mobile", [value])[0]

    def id_number(self, value: object) -> str | None:
        return self.column("id_number", [value])[0]

    def unionid(self, value: object) -> str | None:
        return self.column("unionid", [value])[0]

    def source_key(self, source: object, key: object) -> str | None:
        return self.column("source_key", [source], [key])[0]

    def mobile_name(self, mobile: object, name: object) -> str | None:
        return self.column("mobile_name", [mobile], [name])[0]
