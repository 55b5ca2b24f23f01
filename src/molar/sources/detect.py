"""File fingerprinting, format and text-encoding detection, and transcoding to UTF-8."""

from __future__ import annotations

import codecs
import hashlib
import io
from pathlib import Path

from molar.sources.problems import FileRejected

FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
REPLACEMENT = "\ufffd"
_SAMPLE_BYTES = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def detect_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise FileRejected(
            "format_unknown",
            f"{path.name}: unsupported file type {path.suffix or '(none)'}; "
            f"export the data as one of {', '.join(sorted(FORMATS))}",
            f"{path.name}：不支持的文件类型 {path.suffix or '（无）'}；请导出为 {', '.join(sorted(FORMATS))} 之一",
        )
    return fmt


def detect_encoding(path: Path) -> str:
    """utf-8-sig / utf-16 by BOM; utf-8 when the sample decodes; otherwise GB18030 (⊇ GBK)."""
    with path.open("rb") as f:
        sample = f.read(_SAMPLE_BYTES)
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=False)  # a sequence cut at the sample's end is fine
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


class Utf8Stream(io.RawIOBase):
    """Reads a file in any encoding and yields UTF-8 bytes; undecodable bytes become U+FFFD.

    Lets the fast Arrow CSV parser read GBK exports without loading the file into memory.
    """

    def __init__(self, path: Path, encoding: str, chunk_bytes: int = 1 << 22) -> None:
        self._raw = path.open("rb")
        self._decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
        self._chunk = chunk_bytes
        self._buffer = b""
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while len(self._buffer) < len(target) and not self._eof:
            raw = self._raw.read(self._chunk)
            self._eof = not raw
            self._buffer += self._decoder.decode(raw, final=self._eof).encode("utf-8")
        n = min(len(target), len(self._buffer))
        target[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_text(path: Path, encoding: str) -> str:
    with path.open("rb") as f:
        return f.read().decode(encoding, errors="replace")
