"""The console's message catalogues: both languages have the same keys, and every message a
template or view asks for by a literal key exists."""

import re
from pathlib import Path

from molar.web import i18n

WEB = Path(i18n.__file__).parent


def test_languages_have_the_same_keys():
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    assert set(zh) == set(en)
    assert len(zh["weekday"]) == len(en["weekday"]) == 7


def test_every_literal_key_exists():
    used = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("*.py")]:
        used |= set(re.findall(r"""\bt\(["']([a-z_]+(?:\.[a-z_A-Z]+)+|app|lang_name|weekday)["']""",
                               path.read_text(encoding="utf-8")))
    assert len(used) > 40
    assert sorted(used - set(i18n.catalogue("zh-CN"))) == []


def test_codes_without_a_label_show_as_themselves():
    assert i18n.Locale("en").t("channel.carrier_pigeon") == "carrier_pigeon"


def test_both_languages_fill_the_same_placeholders_and_none_is_named_key():
    """A message's {placeholders} are filled by keyword through ``Locale.t(key, **values)``."""
    zh, en = i18n.catalogue("zh-CN"), i18n.catalogue("en")
    found = {}
    for name, text in en.items():
        if isinstance(text, str):
            found[name] = set(re.findall(r"\{(\w+)\}", text))
            assert found[name] == set(re.findall(r"\{(\w+)\}", zh[name])), name
    assert "key" not in set().union(*found.values())
    assert found["report.text_risk"] == {"as_of", "high", "key_customers"}
