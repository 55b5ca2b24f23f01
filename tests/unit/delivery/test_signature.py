"""Webhook signatures: HMAC-SHA256 of the exact body, timestamp bound into the body."""

import json

from molar.delivery.channels import DeliveryRequest, sign, verify_signature

REQUEST = DeliveryRequest(message_id="M1", idempotency_key="r|G1|e1|0", channel="sms", purpose="care",
                          golden_id="G1", to={"mobile": "+8613800000001"}, text="您好")


def signed(secret="s3cret", stamp=1_800_000_000):
    body = REQUEST.body(stamp)
    return body, {"X-Molar-Signature": sign(body, secret), "X-Molar-Timestamp": str(stamp)}


def test_a_signed_body_verifies():
    body, headers = signed()
    assert verify_signature(body, headers, "s3cret", now=1_800_000_010)
    assert verify_signature(body, {k.lower(): v for k, v in headers.items()}, "s3cret", now=1_800_000_010)
    assert headers["X-Molar-Signature"].startswith("sha256=") and len(headers["X-Molar-Signature"]) == 71


def test_tampered_body_wrong_secret_or_stale_timestamp_fail():
    body, headers = signed()
    tampered = body.replace("您好".encode(), "你好".encode())
    assert not verify_signature(tampered, headers, "s3cret", now=1_800_000_010)
    assert not verify_signature(body, headers, "other", now=1_800_000_010)
    assert not verify_signature(body, headers, "s3cret", now=1_800_000_000 + 301)  # replayed later
    assert verify_signature(body, headers, "s3cret", tolerance_seconds=None)
    # the header timestamp cannot be moved: the body carries the same one and is signed
    moved = {**headers, "X-Molar-Timestamp": "1800000200"}
    assert not verify_signature(body, moved, "s3cret", now=1_800_000_200)
    assert not verify_signature(body, {}, "s3cret")
    assert json.loads(body)["timestamp"] == 1_800_000_000
