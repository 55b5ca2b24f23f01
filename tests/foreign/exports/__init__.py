"""Exports of an old HIS and a booking platform with the expected outcome of every row."""

from foreign.exports.build import FILES, build, read_expected

__all__ = ["FILES", "build", "read_expected"]
