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
