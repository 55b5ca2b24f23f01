"""Where a message goes, looked up at send time from the golden record.

The outbox stores only the golden ID, never a phone number or WeChat ID; the address is
read (decrypted) from ``identity.patient`` the moment the message leaves, so a corrected number is
used and an erased patient gets nothing.
"""

from __future__ import annotations

from typing import Any

from molar.privacy.fields import read_golden
from molar.warehouse import Engine


def resolve_address(engine: Engine, channel: str, golden_id: str) -> dict[str, Any] | None:
    """``{"mobile": "+86…"}`` for sms, ``{"wechat_openid": …, "wechat_unionid": …}`` for
    wechat, ``{"app_user": golden_id}`` for app push; None when there is no address."""
    if channel == "app":
        return {"app_user": golden_id}
    rows = read_golden(engine, "mobile, wechat_openid, wechat_unionid", "WHERE golden_id = ?", [golden_id]).to_pylist()
    if not rows:
        return None
    mobile, openid, unionid = rows[0].values()
    if channel == "sms":
        return {"mobile": mobile} if mobile else None
    if channel == "wechat":
        if not openid and not unionid:
            return None
        return {"wechat_openid": openid, "wechat_unionid": unionid}
    return None
