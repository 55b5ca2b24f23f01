"""Blind indexes: equal identifiers in any accepted spelling match; keys and kinds separate."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa

from molar.privacy import keys
from molar.privacy.blind_index import BlindIndexer, derive_key

ROOT = bytes(32)
A = BlindIndexer(ROOT)
B = BlindIndexer(bytes([1]) * 32)


def test_equality_preserving_over_spellings():
    spellings = ["13812345678", "+86 138-1234-5678", "0086 13812345678", "８６１３８１２３４５６７８",
                 "138 1234 5678", "+8613812345678"]
    assert len({A.mobile(s) for s in spellings}) == 1
    assert A.id_number("51010719850312001x") == A.id_number(" 51010719850312001X ")
    assert A.id_number("５１０１０７１９８５０３１２００１Ｘ") == A.id_number("51010719850312001X")
    assert A.source_key("his", " P1 ") == A.source_key("his", "P1")
    assert A.mobile_name("13812345678", "张伟") == A.mobile_name("+86 138 1234 5678", " 张 伟")


def test_different_values_differ():
    assert A.mobile("13812345678") != A.mobile("13812345687")
    assert A.source_key("his", "P1") != A.source_key("booking", "P1")
    assert A.unionid("oABC") != A.unionid("oabc")   # unionids are case-sensitive
    assert A.mobile_name("13812345678", "张伟") != A.mobile_name("13812345678", "张玮")


def test_missing_or_invalid_values_have_no_index():
    assert A.mobile(None) is None and A.mobile("12345") is None and A.mobile("") is None
    assert A.mobile("+8612012345678") is None and A.mobile("12012345678") is None   # 120: no mobile prefix
    # 140 is not allocated, but a well-formed number is kept for matching (docs/identity.md)
    assert A.mobile("+8614012345678") == A.mobile("14012345678") is not None
    assert A.id_number(None) is None and A.unionid("  ") is None
    assert A.source_key("his", None) is None and A.mobile_name("13812345678", None) is None


def test_value_is_a_truncated_hmac_of_the_standard_form():
    # an independent computation: HKDF-derived key, HMAC-SHA256 over the 11 digits, 12 bytes
    expected = hmac.new(derive_key(ROOT, "mobile"), b"13812345678", hashlib.sha256).digest()[:12].hex()
    assert A.mobile("+86 138 1234 5678") == expected
    assert "13812345678" not in A.mobile("13812345678")


def test_key_separated_between_keys_and_kinds():
    assert A.mobile("13812345678") != B.mobile("13812345678")
    assert A.unionid("13812345678") != A.mobile("13812345678")
    assert A.unionid("13812345678") != A.id_number("13812345678")
    assert derive_key(ROOT, "mobile") != derive_key(ROOT, "unionid")


def test_column_matches_scalar_functions():
    mobiles = pa.chunked_array([["13812345678", None], ["bad"]])
    assert A.column("mobile", mobiles) == [A.mobile("13812345678"), None, None]
    assert A.column("source_key", ["his", "member"], ["P1", "M1"]) == [A.source_key("his", "P1"),
                                                                       A.source_key("member", "M1")]


def test_indexes_survive_master_key_rotation(warehouse):
    master, new = bytes(range(32)), bytes(range(2, 34))
    before = BlindIndexer.from_keyring(keys.open_keyring(warehouse, master)).mobile("13812345678")
    keys.rewrap(warehouse, master, new)
    after = BlindIndexer.from_keyring(keys.open_keyring(warehouse, new)).mobile("13812345678")
    assert before == after


def test_importable_before_ingest():
    # a fresh interpreter that reaches blind indexes before ingest (the real-time app does)
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import molar.realtime.app"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-500:]


def test_unallocated_prefix_keeps_its_index():
    # 154 is well-formed but not allocated: the std form and any spelling index alike
    assert A.mobile("+8615412345678") == A.mobile("154 1234 5678") is not None
