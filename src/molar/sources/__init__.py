"""Source readers: files of any supported format and encoding as batches of text columns."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from molar.sources.columnar_reader import read_jsonl, read_parquet
from molar.sources.csv_reader import read_csv, read_header
from molar.sources.detect import detect_encoding, detect_format, sha256_of
from molar.sources.problems import READ_PROBLEMS, FileRejected
from molar.sources.tabular import META_COLUMNS, PART, PROBLEM, PROBLEM_DETAIL, ROW_NUMBER
from molar.sources.xlsx_reader import read_xlsx


@dataclass(frozen=True)
class SourceFile:
    path: Path
    format: str
    encoding: str | None
    sha256: str
    size: int

    @classmethod
    def open(cls, path: str | Path) -> SourceFile:
        p = Path(path)
        if not p.is_file():
            raise FileRejected(
                "file_missing",
                f"{p} does not exist or is not a file",
                f"{p} 不存在或不是文件",
            )
        fmt = detect_format(p)
        size = p.stat().st_size
        if size == 0:
            raise FileRejected(
                "file_empty",
                f"{p.name} is empty (0 bytes); export it again",
                f"{p.name} 是空文件（0 字节）；请重新导出",
            )
        encoding = detect_encoding(p) if fmt in ("csv", "jsonl") else None
        return cls(p, fmt, encoding, sha256_of(p), size)

    def headers(self) -> list[str] | None:
        """Header row of a CSV; None for formats whose fields are named per record."""
        if self.format == "csv":
            assert self.encoding
            return read_header(self.path, self.encoding)[0]
        return None

    def batches(self, fields: Sequence[str]) -> Iterator[pa.RecordBatch]:
        if self.format == "csv":
            assert self.encoding
            return read_csv(self.path, self.encoding)
        if self.format == "xlsx":
            return read_xlsx(self.path, fields)
        if self.format == "parquet":
            return read_parquet(self.path, fields)
        assert self.encoding
        return read_jsonl(self.path, self.encoding, fields)


__all__ = [
    "META_COLUMNS",
    "PART",
    "PROBLEM",
    "PROBLEM_DETAIL",
    "READ_PROBLEMS",
    "ROW_NUMBER",
    "FileRejected",
    "SourceFile",
]
