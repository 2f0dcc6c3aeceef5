"""Broadcasts written straight into the database for as-run log, report and health tests:
what the scheduler's firing would write (a broadcast and one play command per loudspeaker),
so the receipts then go through the real ``Services.record_events``."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select

from broadcast.models import Broadcast, Command, CommandStatus, Loudspeaker, Notice
from broadcast.services import Services
from broadcast.views import IncomingEvent

BODY = "各位村民请注意，明天上午九点在村委会开会。"


def add_notice(services: Services, title: str, body: str = BODY) -> int:
    audio = services.render(body)
    with services.sessions.begin() as s:
        notice = Notice(
            title=title,
            body=body,
            audio_sha256=audio.sha256,
            audio_size=audio.size,
            audio_duration_ms=audio.duration_ms,
            created_by="tester",
            created_at=services.now(),
        )
        s.add(notice)
        s.flush()
        return notice.id


def add_broadcast(
    services: Services,
    notice_id: int,
    speaker_ids: list[str],
    planned_at: datetime,
    *,
    drill: bool = False,
    priority: int = 50,
    window: timedelta = timedelta(minutes=15),
) -> tuple[int, dict[str, str]]:
    """A broadcast to ``speaker_ids``; returns its id and each loudspeaker's command id."""
    with services.sessions.begin() as s:
        notice = s.get(Notice, notice_id)
        assert notice is not None
        bc = Broadcast(
            notice_id=notice_id,
            planned_at=planned_at,
            expires_at=planned_at + window,
            priority=priority,
            drill=drill,
            created_at=services.now(),
        )
        s.add(bc)
        s.flush()
        commands = {}
        for sid in speaker_ids:
            seq = (
                s.scalar(select(func.max(Command.seq)).where(Command.speaker_id == sid)) or 0
            ) + 1
            assert s.get(Loudspeaker, sid) is not None
            cid = str(uuid.uuid4())
            s.add(
                Command(
                    id=cid,
                    broadcast_id=bc.id,
                    speaker_id=sid,
                    seq=seq,
                    type="play",
                    priority=priority,
                    params={
                        "broadcast_id": bc.id,
                        "audio_sha256": notice.audio_sha256,
                        "duration_ms": notice.audio_duration_ms,
                        "repeat": 2,
                    },
                    issued_at=services.now(),
                    not_before=planned_at,
                    expires_at=bc.expires_at,
                    status=CommandStatus.PENDING,
                )
            )
            commands[sid] = cid
            s.flush()
        return bc.id, commands


def receipt(
    command_id: str, speaker_id: str, kind: str, at: datetime, **details: object
) -> IncomingEvent:
    return IncomingEvent(command_id, speaker_id, kind, at, dict(details))


def play_through(
    services: Services, command_id: str, speaker_id: str, at: datetime, seconds: int = 40
) -> None:
    """Receipts of a loudspeaker that received, started and finished (twice through)."""
    services.record_events(
        [
            receipt(command_id, speaker_id, "received", at),
            receipt(command_id, speaker_id, "started", at + timedelta(seconds=2)),
            receipt(
                command_id,
                speaker_id,
                "finished",
                at + timedelta(seconds=seconds),
                repeat=2,
                receipts=3,
            ),
        ]
    )
