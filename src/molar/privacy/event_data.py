"""Live event data: the personal fields sealed in one token beside the impersonal rest.

An event's ``data`` is split when it is first written (the collector, before the event
log): fields that can carry personal data (free text, a referrer's unionid:
:data:`molar.model.events.PERSONAL_DATA_FIELDS`) and any field its type does not declare
go into one AES-GCM token, the JSON of those fields, bound to ``ops.rt_event``, column
``sealed`` and the event ID. The rest stays plain JSON, so amounts, codes and IDs remain
queryable in SQL. One token per event keeps the hot path at one encryption.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from molar.model.events import PERSONAL_DATA_FIELDS
from molar.privacy.crypto import FieldCipher

TABLE = "ops.rt_event"
COLUMN = "sealed"


def seal(cipher: FieldCipher, event_id: str, data: Mapping[str, Any],
         declared: Collection[str] | None = None) -> tuple[dict[str, Any], str | None]:
    """``(plain, token)``: ``data`` without its personal fields (and, when ``declared`` is
    given, without fields outside it), and the token of those fields (None if there are none)."""
    plain: dict[str, Any] = {}
    personal: dict[str, Any] = {}
    for key, value in data.items():
        hidden = key in PERSONAL_DATA_FIELDS or (declared is not None and key not in declared)
        (personal if hidden else plain)[key] = value
    if not personal:
        return plain, None
    text = json.dumps(personal, ensure_ascii=False, separators=(",", ":"), default=str)
    return plain, cipher.encrypt(text, TABLE, COLUMN, event_id)


def open_tokens(cipher: FieldCipher, tokens: Sequence[str | None], event_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The sealed fields of each event ({} where there is no token)."""
    texts = cipher.decrypt_column(list(tokens), TABLE, COLUMN, list(event_ids))
    return [json.loads(t) if t else {} for t in texts]


def opened(cipher: FieldCipher, event_id: str, data: Mapping[str, Any], token: str | None, *,
           personal_only: bool = False) -> dict[str, Any]:
    """``data`` with its sealed fields back. ``personal_only`` leaves out fields the event's
    type does not declare (what the real-time stages see: a contract's fields only)."""
    out = dict(data)
    if token:
        for key, value in open_tokens(cipher, [token], [event_id])[0].items():
            if not personal_only or key in PERSONAL_DATA_FIELDS:
                out[key] = value
    return out
