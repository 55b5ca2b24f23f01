"""Tag evidence masking: a personal field's value follows the role's level; a count filed
under a field's name (preferred_channel: {"wechat": 5}) is not a personal value."""

from molar.privacy.accounts import principal_for
from molar.privacy.masking import mask_explanation


def test_counts_under_a_field_name_pass_and_values_are_masked():
    info = {"tags": [{"tag_key": "preferred_channel", "inputs": {"wechat": 5, "phone": 2}},
                     {"tag_key": "wechat_bound", "inputs": {"wechat": "oUNION0000000001"}}]}
    front_desk = principal_for("desk", "front_desk", "session")      # wechat: masked
    masked, view = mask_explanation(info, front_desk)
    assert masked["tags"][0]["inputs"] == {"wechat": 5, "phone": 2}
    assert masked["tags"][1]["inputs"] == {"wechat": "oUNI****"}
    analyst = principal_for("ana", "analyst", "session")              # wechat: hidden
    hidden, _ = mask_explanation(info, analyst)
    assert hidden["tags"][1]["inputs"] == {}
