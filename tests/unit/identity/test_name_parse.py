"""What a name field holds: real name, surname with a form of address, nickname, empty."""

from __future__ import annotations

import pytest

from molar.ingest.standardise.names import EMPTY, HONORIFIC, NICKNAME, REAL, NameParts, parse_name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("李雨曦", NameParts(REAL, name="李雨曦")),
        ("欧阳娜娜", NameParts(REAL, name="欧阳娜娜")),
        ("仝卫国", NameParts(REAL, name="仝卫国")),  # a rare surname in a name field
        ("Zhang Wei", NameParts(REAL, name="Zhang Wei")),
        ("买买提·艾力", NameParts(REAL, name="买买提·艾力")),
        ("李女士", NameParts(HONORIFIC, surname="李", sex="F")),
        ("宋先生", NameParts(HONORIFIC, surname="宋", sex="M")),
        ("王老师", NameParts(HONORIFIC, surname="王")),
        ("张姐", NameParts(HONORIFIC, surname="张", sex="F")),
        ("史姨", NameParts(HONORIFIC, surname="史", sex="F")),  # was read as the real name 史姨
        ("夏天的风", NameParts(NICKNAME)),  # 夏 is a surname, but no name holds 的
        ("小陈", NameParts(HONORIFIC, surname="陈")),
        ("陈sir", NameParts(HONORIFIC, surname="陈", sex="M")),
        ("欧阳女士", NameParts(HONORIFIC, surname="欧阳", sex="F")),
        ("快乐小鱼", NameParts(NICKNAME)),
        ("追风少年", NameParts(NICKNAME)),
        ("momo", NameParts(NICKNAME)),
        ("豆豆妈妈", NameParts(NICKNAME)),
        ("糖糖", NameParts(NICKNAME)),
        ("小明", NameParts(NICKNAME)),
        ("", NameParts(EMPTY)),
        (None, NameParts(EMPTY)),
    ],
)
def test_name_field(text, expected):
    assert parse_name(text) == expected


@pytest.mark.parametrize(
    ("nickname", "kind"),
    [("张伟", REAL), ("欧阳娜娜", REAL), ("仝卫国", NICKNAME), ("张女士", HONORIFIC), ("戴姐", HONORIFIC),
     ("Amy", NICKNAME), ("岁月静好", NICKNAME), ("陈陈", NICKNAME), ("B.Zhang", NICKNAME), ("王小明的日常", NICKNAME), ("Zhang Wei", NICKNAME),
     ("夏天的风", NICKNAME)],
)
def test_nickname_field_is_stricter(nickname, kind):
    assert parse_name(nickname, nickname_field=True).kind == kind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("李雨曦女士", NameParts(REAL, name="李雨曦", sex="F")),
        ("刘翔嘉先生", NameParts(REAL, name="刘翔嘉", sex="M")),
        ("欧阳娜娜小姐", NameParts(REAL, name="欧阳娜娜", sex="F")),
        ("王建国老师", NameParts(REAL, name="王建国")),
        ("朱师傅", NameParts(HONORIFIC, surname="朱")),
    ],
)
def test_full_name_with_a_title_is_the_real_name(text, expected):
    assert parse_name(text) == expected


def test_a_kinship_word_after_a_name_is_not_that_persons_title():
    # 张小宇妈妈 is the child's mother, not 张小宇
    assert parse_name("张小宇妈妈").name != "张小宇"
    assert parse_name("张小宇妈妈", nickname_field=True).name != "张小宇"
