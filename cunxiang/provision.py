"""Provisioning files: one JSON file per loudspeaker, read by ``cunxiang speaker``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from broadcast.errors import ConfigError
from broadcast.services import Services
from broadcast.settings import Settings
from broadcast.views import Provisioning
from cunxiang.runtime import loudspeaker_broker


def provisioning_document(settings: Settings, prov: Provisioning) -> dict[str, object]:
    return {
        "speaker_id": prov.speaker_id,
        "village": prov.village_name,
        "broker": loudspeaker_broker(settings),
        "password": prov.mqtt_password,
        "base_topic": settings.mqtt.base_topic,
        "private_key": prov.private_key_b64,
        "public_key": prov.public_key_b64,
        "server_keys": prov.server_keys,
        "player": None,
    }


def write_provisioning(settings: Settings, prov: Provisioning, path: Path | None = None) -> Path:
    """Write the file with mode 0600 (it holds the loudspeaker's private key and password)."""
    path = path or settings.speakers_dir / f"{prov.speaker_id}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(provisioning_document(settings, prov), ensure_ascii=False, indent=2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return path


SIM_VILLAGE = ("模拟村", "SIM")


def simulated_speakers(settings: Settings, services: Services, count: int) -> list[Path]:
    """Provisioning files of loudspeakers ``sim-0001`` .. ``sim-<count>``, provisioning the
    missing ones (in the village 模拟村) first. The caller reloads the broker."""
    name, code = SIM_VILLAGE
    if not any(v.code == code for v in services.list_villages()):
        services.add_village(name, code)
    known = {s.id for s in services.list_speakers()}
    paths = []
    for i in range(1, count + 1):
        sid = f"sim-{i:04d}"
        path = settings.speakers_dir / f"{sid}.json"
        if not path.exists():
            if sid in known:
                raise ConfigError(f"{sid} exists but its provisioning file {path} is gone")
            write_provisioning(settings, services.add_speaker(sid, code, f"模拟喇叭{i}"))
        paths.append(path)
    return paths
