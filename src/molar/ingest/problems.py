"""Every reason a row can be quarantined or warned about, in English and Chinese."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class ProblemText:
    code: str
    severity: str  # error: row quarantined; warning: row loaded, doubt recorded
    message_en: str
    message_zh: str


# Lines that are not records: reported as ignored, never loaded or quarantined.
IGNORABLE = ("blank_line", "totals_row")

# Excel damage that destroys the value (it cannot be repaired, only re-exported).
EXCEL_DAMAGE = ("excel_scientific", "excel_digits_lost")
_REEXPORT_EN = "Re-export the file with this column formatted as text (in Excel: select the column → Format Cells → Text, or export CSV from the source system directly)."
_REEXPORT_ZH = "请将该列设为“文本”格式后重新导出（Excel 中：选中该列 → 设置单元格格式 → 文本；或直接从原系统导出 CSV）。"

# Problems the loader itself finds (the standardisers bring their own).
LOADER_PROBLEMS = (
    ProblemText("encoding_error", "error",
                "the row contains bytes that are not valid text in the file's encoding (garbled characters): {value}",
                "该行含有无法按文件编码解码的字节（乱码）：{value}"),
    ProblemText("wrong_column_count", "error",
                "the row does not have as many columns as the header ({value})",
                "该行的列数与表头不一致（{value}）"),
    ProblemText("unbalanced_quote", "error",
                "the row has an opening quote mark (\") that is never closed: {value}",
                "该行的引号（\"）没有闭合：{value}"),
    ProblemText("json_invalid", "error",
                "the line is not a valid JSON object: {value}",
                "该行不是有效的 JSON 对象：{value}"),
    ProblemText("required_missing", "error",
                "required field {field} is empty",
                "必填字段 {field} 为空"),
    ProblemText("duplicate_key", "error",
                "another row in this file already has the same key ({value}); the first one was kept",
                "本文件中已有相同主键（{value}）的行，保留了第一行"),
    ProblemText("duplicate_row", "error",
                "the row repeats row {value} of this file exactly; the first one was kept",
                "该行与本文件第 {value} 行完全相同（重复导出），保留了第一行"),
    ProblemText("patient_unknown", "error",
                "patient {value} is not in this source's patient list; load the patient file first or correct the number",
                "患者“{value}”不在该数据源的患者名单中；请先导入患者文件，或更正病历号"),
    ProblemText("clinic_unknown", "error",
                "clinic {value} is not in the clinic list; add it to the clinic file or correct the name",
                "诊所“{value}”不在诊所清单中；请在诊所文件中添加或更正名称"),
    ProblemText("doctor_unknown", "warning",
                "doctor {value} is not in the doctor list of this clinic; loaded without a doctor",
                "医生“{value}”不在该诊所的医生名单中；已导入但未关联医生"),
    ProblemText("id_birth_mismatch", "warning",
                "the birth date in the ID number differs from the stated birth date ({value})",
                "身份证号中的出生日期与填写的出生日期不一致（{value}）"),
    ProblemText("excel_scientific", "error",
                "{field} holds {value}: Excel saved this number in scientific notation and its last digits are lost. " + _REEXPORT_EN,
                "{field}“{value}”被 Excel 存成了科学计数法，后面的数字已丢失。" + _REEXPORT_ZH),
    ProblemText("excel_digits_lost", "error",
                "{field} holds {value}: Excel keeps only 15 significant digits of a number, so the last digits became 000 "
                "and the check digit fails. " + _REEXPORT_EN,
                "{field}“{value}”：Excel 数字只保留 15 位有效数字，末尾几位变成了 000，校验位不符。" + _REEXPORT_ZH),
    ProblemText("excel_serial_date", "warning",
                "{field} holds {value}, an Excel day number (a date cell saved as a number); it was read as a date "
                "counting from 1899-12-30 as Excel does. Check the date; " + _REEXPORT_EN,
                "{field}“{value}”是 Excel 的日期序号（日期单元格被存成了数字），已按 Excel 规则（自 1899-12-30 起算）读成日期。"
                "请核对日期；" + _REEXPORT_ZH),
    ProblemText("code_kept_as_other", "warning",
                "{field} {value} is not in the code list; loaded under the 'other' code with the original name kept. "
                "Add it to the mapping's values: to give it its own code",
                "{field}“{value}”不在代码表中；已按“其他”导入并保留原名称。可在映射的 values: 中为它指定代码"),
    ProblemText("id_sex_mismatch", "warning",
                "the sex in the ID number differs from the stated sex ({value})",
                "身份证号中的性别与填写的性别不一致（{value}）"),
)


@cache
def problem_catalogue() -> tuple[ProblemText, ...]:
    from molar.ingest.standardise import PROBLEMS

    merged = {p.code: p for p in LOADER_PROBLEMS}
    for code, p in PROBLEMS.items():
        merged.setdefault(
            code, ProblemText(code, getattr(p, "severity", "error"), p.message_en, p.message_zh)
        )
    return tuple(merged.values())


def error_codes() -> list[str]:
    return [p.code for p in problem_catalogue() if p.severity == "error"]
