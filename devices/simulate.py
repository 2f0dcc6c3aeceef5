"""Many reference loudspeakers in one process, one per provisioning file."""

from __future__ import annotations

import logging
from pathlib import Path

from devices.speaker import Loudspeaker, SpeakerConfig

logger = logging.getLogger(__name__)


class Simulator:
    def __init__(self, configs: list[SpeakerConfig]) -> None:
        self.speakers = [Loudspeaker(c) for c in configs]

    @classmethod
    def from_directory(cls, directory: Path, state_root: Path) -> Simulator:
        configs = [
            SpeakerConfig.load(path, state_root) for path in sorted(directory.glob("*.json"))
        ]
        return cls(configs)

    def start(self) -> None:
        for speaker in self.speakers:
            speaker.start()
        logger.info("simulating %d loudspeakers", len(self.speakers))

    def wait_connected(self, timeout: float) -> bool:
        return all(s.wait_connected(timeout) for s in self.speakers)

    def stop(self) -> None:
        for speaker in self.speakers:
            speaker.stop()
