"""The shared CLI plumbing: one message and exit code 2 for expected errors, nothing hidden."""

from __future__ import annotations

import json

import pytest
import typer

from molar.ui.options import failing_on, print_json, warehouse_engine


class StepError(Exception):
    pass


def test_an_expected_error_becomes_one_message_and_exit_2(capsys):
    with pytest.raises(typer.Exit) as exit_, failing_on(KeyError, StepError):
        raise StepError("no golden patients yet: run `molar identity resolve` first")
    assert exit_.value.exit_code == 2
    err = capsys.readouterr().err
    assert "error:" in err and "no golden patients yet" in err


def test_an_unexpected_error_is_not_swallowed():
    with pytest.raises(ZeroDivisionError), failing_on(StepError):
        1 / 0  # noqa: B018


def test_json_output_keeps_chinese_and_renders_dates(capsys):
    from datetime import date

    print_json({"名字": "回访", "on": date(2026, 12, 3)})
    out = capsys.readouterr().out
    assert "回访" in out
    assert json.loads(out) == {"名字": "回访", "on": "2026-12-03"}


def test_a_warehouse_that_is_not_a_warehouse_is_one_message(tmp_path, capsys):
    bogus = tmp_path / "molar.duckdb"
    bogus.write_text("this is a text file, not a DuckDB database")
    with pytest.raises(typer.Exit) as exit_, warehouse_engine(bogus):
        pass
    assert exit_.value.exit_code == 2
    assert str(bogus) in capsys.readouterr().err.replace("\n", "")
