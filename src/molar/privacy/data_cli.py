"""`molar privacy keygen|rotate-key|export|erase` and `molar consent show|set|refuse-marketing`."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from molar.privacy import crypto, keys
from molar.ui.console import console
from molar.ui.options import WarehouseOpt, fail, open_engine, settings_from

NEW_KEY_ENV = "MOLAR_NEW_MASTER_KEY"


def _keyring(engine, settings) -> keys.Keyring:
    try:
        return keys.open_keyring(engine, keys.master_key_from(settings))
    except keys.KeyConfigError as exc:
        raise fail(str(exc)) from exc


def keygen() -> None:
    """Print a new random master key (base64, 32 bytes) to set as MOLAR_MASTER_KEY."""
    typer.echo(keys.new_master_key())


def rotate_key(
    reencrypt: Annotated[bool, typer.Option("--reencrypt", help="Also start a new data key and move every encrypted value to it.")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Re-wrap the data keys under a new master key (read from MOLAR_NEW_MASTER_KEY).

    Fast: only the wrapped keys change. Afterwards set MOLAR_MASTER_KEY to the new key.
    """
    settings = settings_from(warehouse)
    try:
        old = keys.master_key_from(settings)
    except keys.KeyConfigError as exc:
        raise fail(str(exc)) from exc
    try:
        new = keys.parse_master_key(os.environ.get(NEW_KEY_ENV), NEW_KEY_ENV)
    except keys.KeyConfigError as exc:
        raise fail(f"new master key: {exc}. Create it with `molar privacy keygen`, store it safely, then "
                   f"set it as {NEW_KEY_ENV} / 轮换前请先生成并保存新主密钥，设置为 {NEW_KEY_ENV}") from exc
    with open_engine(settings) as engine:
        _keyring(engine, settings)   # checks the old key fits before anything changes
        rewrapped = keys.rewrap(engine, old, new)
        console.print(f"{rewrapped} data keys re-wrapped under master key {keys.fingerprint(new)}; "
                      "set MOLAR_MASTER_KEY to the new key now / 已用新主密钥重新封装数据密钥，请立即更新 MOLAR_MASTER_KEY")
        if reencrypt:
            with engine.transaction():
                engine.execute("UPDATE privacy.data_key SET retired_at = now() WHERE kind = 'data' AND retired_at IS NULL")
                key_id = keys.add_data_key(engine, new)
            moved = crypto.reencrypt(engine, crypto.FieldCipher(keys.open_keyring(engine, new)))
            console.print(f"new data key {key_id}; values moved: "
                          + ", ".join(f"{name} {n:,}" for name, n in moved.items()))


def add_commands(group: typer.Typer) -> None:
    """Add the data-half privacy commands to the `molar privacy` group."""
    group.command("keygen")(keygen)
    group.command("rotate-key")(rotate_key)


def register(app: typer.Typer) -> None:
    privacy_app = typer.Typer(help="Encryption keys and data-subject rights.", no_args_is_help=True)
    add_commands(privacy_app)
    app.add_typer(privacy_app, name="privacy")
