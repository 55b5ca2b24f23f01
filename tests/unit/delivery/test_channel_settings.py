"""Gateways configured in molar.toml: [channels.<name>] url + secret; no URL = local sink."""

from datetime import datetime, timedelta

import pytest

from molar.automation import Automation, ManualClock
from molar.config import ConfigError, Settings, load_settings
from molar.delivery import LocalSink, WebhookChannel


def test_channels_from_molar_toml(tmp_path, monkeypatch):
    toml = tmp_path / "molar.toml"
    toml.write_text('[molar]\nwarehouse_path = "w.duckdb"\n\n[channels.sms]\nurl = "http://127.0.0.1:9/sms"\n'
                    'secret = "from-file"\n', encoding="utf-8")
    monkeypatch.setenv("MOLAR_CHANNEL_SMS_SECRET", "from-env")
    assert load_settings(toml).channels == {"sms": {"url": "http://127.0.0.1:9/sms", "secret": "from-env"}}
    toml.write_text('[channels.email]\nurl = "http://x"\nsecret = "s"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown channel"):
        load_settings(toml)
    monkeypatch.delenv("MOLAR_CHANNEL_SMS_SECRET")
    toml.write_text('[channels.sms]\nurl = "http://x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="has a url but no secret"):
        load_settings(toml)


def test_automation_from_settings_sends_through_the_configured_gateway(warehouse, gateway):
    settings = Settings(channels={"sms": {"url": gateway.url, "secret": gateway.secret}})
    t0 = datetime(2026, 10, 5, 10, 0)
    automation = Automation.from_settings(settings, clock=ManualClock(t0))
    assert isinstance(automation.channels["sms"], WebhookChannel)
    assert isinstance(automation.channels["wechat"], LocalSink)
    from unit.automation.autolib import add_patient, in_every_rule, visit

    g = in_every_rule()
    add_patient(warehouse, g)
    automation.on_events(warehouse, [visit(g, t0, "IMP")])
    automation.tick(warehouse, t0 + timedelta(days=1))
    [request] = gateway.requests
    assert request.json["template"] == "implant_day1" and request.json["to"]["golden_id"] == g
    assert request.key == f"implant_follow_up|{g}|{warehouse.scalar('SELECT occurrence FROM ops.journey')}|1"
