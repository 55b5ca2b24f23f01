"""Why a file or a row could not be read, in words a clinic administrator understands."""

from __future__ import annotations


class FileRejected(Exception):
    """The whole file cannot be loaded; nothing from it reaches the warehouse."""

    def __init__(self, code: str, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh


class NeedsExactParse(Exception):
    """The fast reader met a structural problem; reread the file line by line from
    ``from_line`` (the rows before it were already read correctly)."""

    def __init__(self, from_line: int = 2) -> None:
        super().__init__(from_line)
        self.from_line = from_line


# Row-level problems found while reading (before any field is looked at).
READ_PROBLEMS: dict[str, tuple[str, str]] = {
    "encoding_error": (
        "the row contains bytes that are not valid {encoding} text (garbled characters)",
        "该行含有无法按 {encoding} 解码的字节（乱码）",
    ),
    "wrong_column_count": (
        "the row has {actual} columns but the header has {expected}",
        "该行有 {actual} 列，但表头有 {expected} 列",
    ),
    "unbalanced_quote": (
        "the row has an opening quote mark (\") that is never closed",
        "该行的引号（\"）没有闭合",
    ),
    "json_invalid": (
        "the line is not a valid JSON object",
        "该行不是有效的 JSON 对象",
    ),
}
