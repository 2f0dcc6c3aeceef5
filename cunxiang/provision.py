"""Provisioning files: one JSON file per loudspeaker, read by ``cunxiang speaker``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from broadcast.settings import Settings
from broadcast.views import Provisioning
from cunxiang.runtime import broker_address


def provisioning_document(settings: Settings, prov: Provisioning) -> dict[str, object]:
    addr = broker_address(settings)
    return {
        "speaker_id": prov.speaker_id,
        "village": prov.village_name,
        "broker": {"host": addr.host, "port": addr.port, "tls": addr.tls, "ca_file": addr.ca_file},
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
