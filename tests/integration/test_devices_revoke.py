"""Revoking a loudspeaker: its account, key and commands go; its events are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from broadcast.settings import Settings
from cunxiang.cli import main
from devices import protocol
from devices.gateway import epoch_ms
from devices.speaker import SpeakerConfig
from tests.conftest import ServicesFactory, require
from tests.devices_rig import make_township, settled
from tests.helpers import wait_until
from tests.mqtt_probe import Probe


def test_a_revoked_loudspeaker_is_cut_off_and_gets_no_more_commands(
    settings: Settings, make_services: ServicesFactory
) -> None:
    for binary in ("mosquitto", "espeak-ng", "ffmpeg"):
        require(binary)
    with make_township(settings, make_services, 2) as town:
        keep, gone = town.speaker_ids
        gone_config = SpeakerConfig.load(town.settings.speakers_dir / f"{gone}.json")
        notice = town.services.add_notice("通知", "请注意。")
        sim = town.simulate()
        gateway = town.new_gateway()
        assert sim.wait_connected(60)
        # An open command for the loudspeaker that is about to be revoked.
        sim.by_id[gone].go_offline(3600)
        wait_until(lambda: not {s.id: s for s in town.services.list_speakers()}[gone].online)
        first = town.broadcast(notice.id)

        closed = town.services.revoke_speaker(gone)
        town.broker.reload(town.services.broker_accounts())
        assert closed == 1
        wait_until(lambda: settled(town, first, 2), timeout=60)
        outcomes = {r.speaker_id: r.outcome for r in town.log(first)}
        assert outcomes == {keep: "finished", gone: "revoked"}

        # Its account is gone: it cannot connect any more.
        sim.by_id[gone].come_back()
        refused = Probe(town.broker.port, gone, gone_config.password)
        assert not refused.wait_connect_result()
        refused.close()
        # Its signed events are refused by the gateway.
        command_id = {r.speaker_id: r.command_id for r in town.log(first)}[gone]
        event = protocol.Event(command_id, gone, "finished", epoch_ms(town.services.now()))
        gateway.handle(
            gateway.topics.event(gone),
            protocol.sign_event(event, gone_config.private_key, gone_config.kid),
        )
        assert command_id not in town.per_command_kinds()
        # No command is created for it any more.
        second = town.broadcast(notice.id)
        wait_until(lambda: settled(town, second, 1), timeout=60)
        assert [r.speaker_id for r in town.log(second)] == [keep]
        assert [s.id for s in town.services.list_speakers() if s.revoked] == [gone]
        assert not any(s.online for s in town.services.list_speakers() if s.revoked)


def test_cli_revoke_removes_the_account_and_the_provisioning_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--data-dir", str(tmp_path / "data")]
    assert main([*d, "village", "add", "上溪村", "--code", "330782101201"]) == 0
    assert main([*d, "speaker", "add", "shangxi-01", "--village", "上溪村"]) == 0
    assert main([*d, "speaker", "add", "shangxi-02", "--village", "上溪村"]) == 0
    passwd = tmp_path / "data" / "mosquitto" / "passwd"
    assert "shangxi-02:" in passwd.read_text()
    capsys.readouterr()

    assert main([*d, "speaker", "revoke", "shangxi-02"]) == 0
    assert "revoked" in capsys.readouterr().out
    assert "shangxi-02:" not in passwd.read_text()
    assert "shangxi-01:" in passwd.read_text()
    assert not (tmp_path / "data" / "speakers" / "shangxi-02.json").exists()
    assert main([*d, "speaker", "list"]) == 0
    listing = capsys.readouterr().out
    assert "shangxi-01" in listing
    # Revoking an unknown loudspeaker is a one-line error.
    assert main([*d, "speaker", "revoke", "nobody"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
