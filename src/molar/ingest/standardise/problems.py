"""Problem codes the standardisers report, with text a clinic administrator can act on.

A problem is attached to one value of one row. ``error`` problems mean the value could
not be standardised (the standardised value is NULL; the loader quarantines the row);
``warning`` problems leave the value in place and are only recorded.

``message_zh``/``message_en`` are templates whose only placeholder is ``{value}`` (the
raw input), so any consumer can fill them, even in SQL with ``replace()``. Some
problems add a ``detail`` template that needs the standardiser's settings
(``{allowed}``, ``{range}``, ``{not_before}``, ``{not_after}``, ``{max_length}``,
``{formats}``); ``Standardiser.problems()`` returns copies with the detail filled in
and appended, again leaving only ``{value}``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    code: str
    message_zh: str
    message_en: str
    severity: Severity = "error"
    detail_zh: str = ""
    detail_en: str = ""

    def specialised(self, **params: object) -> Problem:
        """This problem with the detail (if any) filled from ``params`` and appended."""
        if not self.detail_zh:
            return self
        shown = {k: "" if v is None else str(v) for k, v in params.items()}
        try:
            zh = self.detail_zh.format(**shown)
            en = self.detail_en.format(**shown)
        except KeyError:  # a parameter the standardiser does not have: keep the plain text
            return self
        if not zh.strip():
            return self
        return dataclasses.replace(
            self, message_zh=self.message_zh + zh, message_en=self.message_en + en, detail_zh="", detail_en=""
        )

    def format(self, value: object = None, lang: str = "zh", **params: object) -> str:
        """The finished message in ``lang`` ('zh' or 'en') for one raw ``value``."""
        p = self.specialised(**params)
        template = p.message_zh if lang == "zh" else p.message_en
        return template.replace("{value}", "" if value is None else str(value))


_ALL: tuple[Problem, ...] = (
    # dates and times
    Problem(
        "date_invalid",
        "「{value}」不是有效的日期，请确认格式正确、月份和日期存在（例如没有 2 月 30 日）。",
        "'{value}' is not a valid date: check the format and that the month and day exist (there is no 30 February).",
        detail_zh="可用格式：{formats}。",
        detail_en=" Accepted formats: {formats}.",
    ),
    Problem(
        "timestamp_invalid",
        "「{value}」不是有效的日期时间，请按 2024-01-05 10:22 或 2024年1月5日 10:22:00 等格式填写。",
        "'{value}' is not a valid date and time; write it like 2024-01-05 10:22 or 2024年1月5日 10:22:00.",
    ),
    Problem(
        "timestamp_missing_time",
        "「{value}」只有日期，缺少时间（如 10:22）。",
        "'{value}' has a date but no time of day (such as 10:22).",
    ),
    Problem(
        "date_in_future",
        "日期「{value}」在将来，不可能，请核对。",
        "The date '{value}' is in the future, which is impossible; please check it.",
        detail_zh="（最晚 {not_after}）",
        detail_en=" (latest allowed: {not_after})",
    ),
    Problem(
        "date_too_old",
        "日期「{value}」过早，不太可能，请核对（常见原因：年份录错）。",
        "The date '{value}' is implausibly early; please check it (often a mistyped year).",
        detail_zh="（最早 {not_before}）",
        detail_en=" (earliest allowed: {not_before})",
    ),
    # mobile numbers
    Problem(
        "mobile_wrong_length",
        "手机号「{value}」位数不对：中国大陆手机号是 11 位数字（可带 +86 前缀）。",
        "Mobile number '{value}' has the wrong number of digits: mainland China mobiles have 11 digits (optionally after +86).",
    ),
    Problem(
        "mobile_invalid_prefix",
        "「{value}」不是有效的手机号：开头不是手机号段（13–19 开头；座机号请填在其他字段）。",
        "'{value}' is not a valid mobile number: it does not start like a mobile (13–19; landlines belong in another field).",
    ),
    Problem(
        "mobile_not_numeric",
        "手机号「{value}」含有数字以外的字符（一格只能填一个号码）。",
        "Mobile number '{value}' contains characters other than digits (one number per cell).",
    ),
    Problem(
        "mobile_not_mainland",
        "「{value}」不是中国大陆手机号（国际区号不是 +86）。",
        "'{value}' is not a mainland China mobile number (its country code is not +86).",
    ),
    # resident ID numbers
    Problem(
        "id_wrong_length",
        "身份证号「{value}」位数不对：居民身份证号应为 18 位。",
        "ID number '{value}' has the wrong length: a resident ID number has 18 characters.",
    ),
    Problem(
        "id_invalid_characters",
        "身份证号「{value}」含有无效字符：前 17 位应为数字，最后一位为数字或 X。",
        "ID number '{value}' contains invalid characters: the first 17 must be digits, the last a digit or X.",
    ),
    Problem(
        "id_bad_checksum",
        "身份证号「{value}」校验位不正确，可能有数字录错。",
        "ID number '{value}' fails its check digit; a digit was probably mistyped.",
    ),
    Problem(
        "id_bad_birth_date",
        "身份证号「{value}」中的出生日期（第 7–14 位）不是有效或合理的日期。",
        "ID number '{value}' contains an impossible or implausible birth date (characters 7–14).",
    ),
    Problem(
        "id_birth_mismatch",
        "身份证号中的出生日期与填写的出生日期不一致（{value}），请核对。",
        "The birth date in the ID number differs from the stated birth date ({value}); please check.",
        "warning",
    ),
    Problem(
        "id_sex_mismatch",
        "身份证号中的性别与填写的性别不一致（{value}），请核对。",
        "The sex encoded in the ID number differs from the stated sex ({value}); please check.",
        "warning",
    ),
    # names
    Problem(
        "name_empty_after_cleaning",
        "姓名「{value}」去掉数字和符号后为空，请填写真实姓名。",
        "Name '{value}' is empty once digits and symbols are removed; please enter the real name.",
    ),
    Problem(
        "name_placeholder",
        "姓名「{value}」是占位词（如“未知”“测试”），不是真实姓名。",
        "Name '{value}' is a placeholder (such as 未知 or test), not a real name.",
    ),
    Problem(
        "name_too_long",
        "姓名「{value}」过长，可能混入了备注。",
        "Name '{value}' is too long; notes may have been typed into the name.",
        detail_zh="（最多 {max_length} 个字）",
        detail_en=" (at most {max_length} characters)",
    ),
    # sex
    Problem(
        "sex_unknown",
        "性别「{value}」无法识别。可填写：男、女、M、F、1（男）、2（女）。",
        "Sex '{value}' is not recognised. Use 男, 女, M, F, 1 (male) or 2 (female).",
    ),
    # money and numbers
    Problem(
        "amount_not_numeric",
        "金额「{value}」不是数字（可写成 1,280.00、￥280、280元）。",
        "Amount '{value}' is not a number (write it like 1,280.00, ￥280 or 280元).",
    ),
    Problem(
        "amount_negative",
        "金额「{value}」为负数；退款请单独登记。",
        "Amount '{value}' is negative; record refunds separately.",
    ),
    Problem("not_numeric", "「{value}」不是数字。", "'{value}' is not a number."),
    Problem("not_integer", "「{value}」应为整数。", "'{value}' should be a whole number."),
    Problem(
        "out_of_range",
        "「{value}」超出允许范围。",
        "'{value}' is outside the allowed range.",
        detail_zh="（{range}）",
        detail_en=" ({range})",
    ),
    # text and codes
    Problem(
        "text_too_long",
        "「{value}」过长。",
        "'{value}' is too long.",
        detail_zh="（最多 {max_length} 个字）",
        detail_en=" (at most {max_length} characters)",
    ),
    Problem(
        "code_unknown",
        "「{value}」不是可识别的取值。",
        "'{value}' is not a recognised value.",
        detail_zh="可填写：{allowed}。",
        detail_en=" Allowed: {allowed}.",
    ),
)

PROBLEMS: dict[str, Problem] = {p.code: p for p in _ALL}


def get_problem(code: str) -> Problem:
    try:
        return PROBLEMS[code]
    except KeyError:
        raise KeyError(f"unknown problem code {code!r}; known: {', '.join(sorted(PROBLEMS))}") from None
