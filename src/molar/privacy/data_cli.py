"""`molar privacy keygen|rotate-key|export|erase|scan` and `molar consent show|set|refuse-marketing`."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from molar.privacy import consent, crypto, keys, rights, scan, sealed
from molar.privacy.blind_index import BlindIndexer
from molar.privacy.cli import cli_access, cli_principal
from molar.ui.console import console
from molar.ui.options import (
    JsonOpt,
    WarehouseOpt,
    fail,
    failing_on,
    open_engine,
    print_json,
    settings_from,
)

NEW_KEY_ENV = "MOLAR_NEW_MASTER_KEY"
CLINIC_TZ = ZoneInfo("Asia/Shanghai")
PatientArg = Annotated[str, typer.Argument(help="Golden ID (G…) or source record (his:P001).")]
AtOpt = Annotated[str | None, typer.Option("--at", help="When the patient said it / as of (YYYY-MM-DD[ HH:MM]); default now.")]
SourceOpt = Annotated[str | None, typer.Option("--source", help="Who or which system recorded it (front desk, app …).")]
EvidenceOpt = Annotated[str | None, typer.Option("--evidence", help="Form number, message text … (stored encrypted).")]


def _keyring(engine, settings) -> keys.Keyring:
    with failing_on(keys.KeyConfigError):
        return keys.open_keyring_from(settings, engine)


def _cipher(engine, settings) -> crypto.FieldCipher:
    return crypto.FieldCipher(_keyring(engine, settings))


def _patient(engine, ref: str) -> str:
    """A golden ID for a golden ID or a resolved source record; an unresolved source record as is."""
    ref = ref.strip()
    if engine.scalar("SELECT count(*) FROM identity.golden WHERE golden_id = ?", [ref]):
        return ref
    golden = engine.scalar("SELECT golden_id FROM identity.cluster WHERE unique_id = ?", [ref])
    if golden:
        return str(golden)
    source, _, key = ref.partition(":")
    if engine.scalar("SELECT count(*) FROM std.patient WHERE source = ? AND source_patient_key = ?", [source, key]):
        return ref   # loaded, not resolved yet: the statement follows it to its golden ID
    raise fail(f"unknown patient {ref!r}: give a golden ID (G…) or a loaded source record such as his:P001 "
               "/ 找不到该患者：请输入主索引号（G…）或已导入的来源记录（如 his:P001）")


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"--at {text!r} is not a time; write YYYY-MM-DD or YYYY-MM-DD HH:MM") from exc
    # the warehouse keeps clinic local time without an offset
    return when.astimezone(CLINIC_TZ).replace(tzinfo=None) if when.tzinfo else when


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
        new = keys.parse_master_key(os.environ.get(NEW_KEY_ENV), NEW_KEY_ENV)
    except keys.KeyConfigError as exc:
        raise fail(f"new master key: {exc}. Create it with `molar privacy keygen`, store it safely, then "
                   f"set it as {NEW_KEY_ENV} / 轮换前请先生成并保存新主密钥，设置为 {NEW_KEY_ENV}") from exc
    with open_engine(settings) as engine:
        _keyring(engine, settings)   # checks the old key fits before anything changes
        old = keys.master_key_for(engine, settings)
        rewrapped = keys.rewrap(engine, old, new)
        console.print(f"{rewrapped} data keys re-wrapped under master key {keys.fingerprint(new)}; "
                      "set MOLAR_MASTER_KEY to the new key now / 已用新主密钥重新封装数据密钥，请立即更新 MOLAR_MASTER_KEY")
        if reencrypt:
            with engine.transaction():
                engine.execute("UPDATE privacy.data_key SET retired_at = now() WHERE kind = 'data' AND retired_at IS NULL")
                key_id = keys.add_data_key(engine, new)
            moved = crypto.reencrypt(engine, crypto.FieldCipher(keys.open_keyring(engine, new)),
                                     sealed.every_sealed_column(engine))
            console.print(f"new data key {key_id}; {sum(moved.values()):,} values moved to it: "
                          + ", ".join(f"{name} {n:,}" for name, n in moved.items() if n))


def consent_show(patient: PatientArg, at: AtOpt = None, evidence: Annotated[bool, typer.Option(
        "--evidence", help="Decrypt and show the evidence (needs MOLAR_MASTER_KEY).")] = False,
        as_json: JsonOpt = False, warehouse: WarehouseOpt = None) -> None:
    """What the patient allowed, per purpose and channel, and every statement behind it."""
    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        principal = cli_principal(engine, "consent", "read", bootstrap=True)
        golden_id = _patient(engine, patient)
        rows = consent.overview(engine, golden_id, _when(at))
        cli_access(engine, "consent", "read", command="molar consent show", patient=golden_id,
                   fields=["free_text"] if evidence else (), principal=principal)
        events = consent.history(engine, golden_id, _cipher(engine, settings) if evidence else None)
    if as_json:
        print_json({"patient": golden_id, "consent": rows, "history": events})
        return
    table = Table(title=f"consent of {golden_id} / 授权")
    for col in ("purpose", "channel", "answer", "since", "source"):
        table.add_column(col)
    for r in rows:
        answer = "not asked / 未表态" if r["granted"] is None else ("granted / 同意" if r["granted"] else "refused / 拒绝")
        table.add_row(r["purpose"], r["channel"], answer, str(r["since"] or ""), r["source"] or "")
    console.print(table)
    console.print(f"{len(events)} statements in the history (consent show --json lists them)")


def consent_set(
    patient: PatientArg,
    purpose: Annotated[str, typer.Option("--purpose", help=f"One of {', '.join(consent.PURPOSES)}.")],
    channel: Annotated[str, typer.Option("--channel", help=f"One of {', '.join(consent.CHANNELS)}, or any.")] = "any",
    grant: Annotated[bool, typer.Option("--grant/--refuse", help="Granted or refused.")] = True,
    at: AtOpt = None, source: SourceOpt = None, evidence: EvidenceOpt = None, warehouse: WarehouseOpt = None,
) -> None:
    """Record what the patient said about one purpose and channel."""
    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        by = cli_principal(engine, "consent", "change", bootstrap=True)
        subject = _patient(engine, patient)
        with failing_on(consent.ConsentError):
            event_id = consent.record(
                engine, subject=subject, purpose=purpose, channel=channel, granted=grant,
                occurred_at=_when(at) or datetime.now(), source=source or "cli", evidence=evidence,
                cipher=_cipher(engine, settings) if evidence is not None else None,
                actor=by.name, role=by.role)
    console.print(f"recorded {event_id}: {purpose} on {channel} {'granted' if grant else 'refused'} for {subject}")


def consent_refuse_marketing(patient: PatientArg, source: SourceOpt = None, evidence: EvidenceOpt = None,
                             warehouse: WarehouseOpt = None) -> None:
    """Refuse personalised marketing on every channel, from now on (PIPL Art. 24)."""
    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        by = cli_principal(engine, "consent", "change", bootstrap=True)
        subject = _patient(engine, patient)
        event_id = consent.refuse_marketing(
            engine, subject, source=source or "cli", evidence=evidence,
            cipher=_cipher(engine, settings) if evidence is not None else None,
            actor=by.name, role=by.role)
    console.print(f"recorded {event_id}: no marketing on any channel for {subject} / 已拒绝所有渠道的营销消息")


def export(
    patient: Annotated[str, typer.Argument(help="Golden ID (G…).")],
    out: Annotated[Path, typer.Option("--out", help="JSON file to write.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Everything held about a patient, machine-readable (PIPL Art. 45)."""
    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        by = cli_principal(engine, "patient", "export", bootstrap=True)
        with failing_on(rights.RightsError):
            data = rights.export_patient(engine, patient.strip(), cipher=_cipher(engine, settings),
                                         actor=by.name, role=by.role)
    try:
        out.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    except OSError as exc:
        raise fail(f"cannot write {out}: {exc.strerror}") from exc
    rows = sum(len(r) for r in data["tables"].values())
    console.print(f"{patient}: {rows:,} rows from {len(data['tables'])} tables written to {out} "
                  f"/ 已导出 {len(data['tables'])} 张表共 {rows:,} 行")


def erase(
    patient: Annotated[str, typer.Argument(help="Golden ID (G…).")],
    keep_aggregates: Annotated[bool, typer.Option("--keep-aggregates", help="Keep visits, charges … under a pseudonym, personal columns emptied, so chain totals stay right.")] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """Erase a patient everywhere, derived data included; re-ingested old exports stay erased."""
    settings = settings_from(warehouse)
    if not yes and not typer.confirm(f"erase {patient} everywhere? This cannot be undone / 确认永久删除该患者？"):
        raise typer.Exit(code=1)
    with open_engine(settings) as engine:
        by = cli_principal(engine, "patient", "erase", bootstrap=True)
        indexer = BlindIndexer.from_keyring(_keyring(engine, settings))
        with failing_on(rights.RightsError):
            result = rights.erase_patient(engine, patient.strip(), indexer, keep_aggregates=keep_aggregates,
                                          requested_by=by.name)
    rows = sum(result["rows_removed"].values())
    console.print(f"{patient} erased ({result['erasure_id']}): {rows:,} rows in {len(result['rows_removed'])} tables; "
                  f"{result['suppressed_identifiers']} identifiers on the suppression list / 已删除")


def scan_warehouse(warehouse: WarehouseOpt = None, as_json: JsonOpt = False) -> None:
    """Look for plaintext mobiles, ID numbers and patient names in every text column; exit 1 if any."""
    settings = settings_from(warehouse)
    with open_engine(settings) as engine:
        cli_access(engine, "warehouse", "scan", command="privacy scan")
        result = scan.scan(engine, _keyring(engine, settings))
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    else:
        table = Table(title="Text columns holding plaintext personal data / 含明文个人信息的文本列")
        for heading in ("column", "distinct values", "mobiles", "ID numbers", "names", "text with a name"):
            table.add_column(heading, justify="left" if heading == "column" else "right")
        for hit in result.hits:
            table.add_row(hit.column, *(f"{n:,}" for n in (hit.values, hit.mobiles, hit.id_numbers, hit.names,
                                                           hit.text_with_name)))
        if result.hits:
            console.print(table)
        console.print(result.summary())
    if result.hits:
        raise typer.Exit(code=1)


def add_commands(group: typer.Typer) -> None:
    """Add the data-half privacy commands to the `molar privacy` group."""
    group.command("keygen")(keygen)
    group.command("rotate-key")(rotate_key)
    group.command("export")(export)
    group.command("erase")(erase)
    group.command("scan")(scan_warehouse)


def register(app: typer.Typer) -> None:
    privacy_app = typer.Typer(help="Encryption keys and data-subject rights.", no_args_is_help=True)
    add_commands(privacy_app)
    app.add_typer(privacy_app, name="privacy")
    consent_app = typer.Typer(help="The consent registry: what each patient allowed.", no_args_is_help=True)
    consent_app.command("show")(consent_show)
    consent_app.command("set")(consent_set)
    consent_app.command("refuse-marketing")(consent_refuse_marketing)
    app.add_typer(consent_app, name="consent")
