"""Exports of an old HIS and a booking platform with the expected outcome of every row."""

from foreign.exports.build import build

__all__ = ["build"]
