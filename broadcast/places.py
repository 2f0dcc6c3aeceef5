"""Villages and loudspeakers."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from broadcast import health
from broadcast.errors import Conflict, NotFound, ValidationFailed
from broadcast.keys import KeyPair, b64, mosquitto_password_hash
from broadcast.models import Command, CommandStatus, Loudspeaker, Village, VolumeCeiling
from broadcast.receipts import settle_broadcast
from broadcast.recurrence import QuietHours, VolumeBand
from broadcast.views import Provisioning, SpeakerView, VillageView

SPEAKER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
VILLAGE_CODE = re.compile(r"^[0-9A-Za-z-]{1,32}$")


def add_village(s: Session, name: str, code: str, now: datetime) -> VillageView:
    name = name.strip()
    code = code.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("村名须为 1–100 个字", "name")
    if not VILLAGE_CODE.match(code):
        raise ValidationFailed("村代码须为 1–32 位字母或数字", "code")
    if s.scalar(select(Village).where((Village.name == name) | (Village.code == code))):
        raise Conflict(f"村名“{name}”或代码“{code}”已存在")
    village = Village(name=name, code=code, created_at=now)
    s.add(village)
    s.flush()
    return VillageView(village.id, village.code, village.name)


def set_quiet_hours(s: Session, ref: str | int, band: str | None) -> VillageView:
    """Set a village's quiet hours (``"22:00-06:00"``, ``"-"`` for none, None for the default)."""
    village = find_village(s, ref)
    if band is not None:
        band = QuietHours.parse(band, "quiet_hours").value()
    village.quiet_hours = band
    return VillageView(village.id, village.code, village.name, quiet_hours=band)


def find_village(s: Session, ref: str | int) -> Village:
    """A village by id, code or name."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 9):
        found = s.get(Village, int(ref))
        if found:
            return found
    ref = str(ref)
    found = s.scalar(select(Village).where((Village.code == ref) | (Village.name == ref)))
    if found is None:
        raise NotFound(f"找不到村：{ref}")
    return found


def list_villages(s: Session) -> list[VillageView]:
    active = select(Loudspeaker.village_id, func.count()).where(Loudspeaker.revoked_at.is_(None))
    counts = {vid: n for vid, n in s.execute(active.group_by(Loudspeaker.village_id))}
    online = {
        vid: n
        for vid, n in s.execute(
            active.where(Loudspeaker.online.is_(True)).group_by(Loudspeaker.village_id)
        )
    }
    return [
        VillageView(v.id, v.code, v.name, counts.get(v.id, 0), online.get(v.id, 0), v.quiet_hours)
        for v in s.scalars(select(Village).order_by(Village.code))
    ]


def add_speaker(
    s: Session,
    speaker_id: str,
    village_ref: str | int,
    name: str,
    server_keys: dict[str, str],
    now: datetime,
) -> Provisioning:
    if not SPEAKER_ID.match(speaker_id):
        raise ValidationFailed("喇叭编号只能用小写字母、数字、- 或 _（最多 64 位）", "id")
    if s.get(Loudspeaker, speaker_id) is not None:
        raise Conflict(f"喇叭 {speaker_id} 已存在")
    village = find_village(s, village_ref)
    pair = KeyPair.generate()
    password = secrets.token_urlsafe(24)
    s.add(
        Loudspeaker(
            id=speaker_id,
            village_id=village.id,
            name=name.strip()[:100],
            public_key=b64(pair.public),
            mqtt_password_hash=mosquitto_password_hash(password),
            last_seq=0,
            online=False,
            created_at=now,
        )
    )
    s.flush()
    return Provisioning(
        speaker_id=speaker_id,
        village_name=village.name,
        private_key_b64=b64(pair.private),
        public_key_b64=b64(pair.public),
        mqtt_password=password,
        server_keys=server_keys,
    )


def speaker_view(sp: Loudspeaker) -> SpeakerView:
    return SpeakerView(
        id=sp.id,
        village_id=sp.village_id,
        village_name=sp.village.name,
        name=sp.name,
        online=sp.online and sp.revoked_at is None,
        last_seen_at=sp.last_seen_at,
        revoked=sp.revoked_at is not None,
        state=sp.state,
    )


def list_speakers(s: Session, village_id: int | None = None) -> list[SpeakerView]:
    query = select(Loudspeaker).join(Village).order_by(Village.code, Loudspeaker.id)
    if village_id is not None:
        query = query.where(Loudspeaker.village_id == village_id)
    return [speaker_view(sp) for sp in s.scalars(query)]


def active_speakers(s: Session) -> list[tuple[str, str]]:
    """(id, mosquitto password hash) of every loudspeaker that may connect."""
    rows = s.execute(
        select(Loudspeaker.id, Loudspeaker.mqtt_password_hash)
        .where(Loudspeaker.revoked_at.is_(None))
        .order_by(Loudspeaker.id)
    )
    return [(sid, pw_hash) for sid, pw_hash in rows]


def speaker_public_key(s: Session, speaker_id: str) -> str | None:
    return s.scalar(
        select(Loudspeaker.public_key).where(
            Loudspeaker.id == speaker_id, Loudspeaker.revoked_at.is_(None)
        )
    )


def set_availability(s: Session, speaker_id: str, online: bool, now: datetime) -> bool:
    sp = s.get(Loudspeaker, speaker_id)
    if sp is None or sp.revoked_at is not None:
        return False
    health.record_availability(s, sp, online, now)
    sp.online = online
    sp.last_seen_at = now
    return True


def set_state(s: Session, speaker_id: str, state: dict[str, object], now: datetime) -> bool:
    sp = s.get(Loudspeaker, speaker_id)
    if sp is None or sp.revoked_at is not None:
        return False
    sp.state = dict(state)
    sp.last_seen_at = now
    return True


def speaker_public_keys(s: Session, speaker_ids: Iterable[str]) -> dict[str, str]:
    """Public keys of the given loudspeakers that are not revoked (one query)."""
    rows = s.execute(
        select(Loudspeaker.id, Loudspeaker.public_key).where(
            Loudspeaker.id.in_(list(speaker_ids)), Loudspeaker.revoked_at.is_(None)
        )
    )
    return {sid: key for sid, key in rows}


def revoke_speaker(s: Session, speaker_id: str, now: datetime) -> int:
    """Revoke a loudspeaker: it may no longer connect, its events are refused, and its
    open commands are closed as ``revoked``. Returns how many commands were closed."""
    sp = s.get(Loudspeaker, speaker_id)
    if sp is None:
        raise NotFound(f"找不到喇叭 {speaker_id}")
    if sp.revoked_at is None:
        sp.revoked_at = now
        sp.online = False
    open_ = s.scalars(
        select(Command).where(
            Command.speaker_id == speaker_id,
            Command.status.in_([CommandStatus.PENDING, CommandStatus.SENT, CommandStatus.ACKED]),
        )
    ).all()
    for cmd in open_:
        cmd.status = CommandStatus.EXPIRED
        cmd.outcome = "revoked"
    s.flush()
    for bid in {c.broadcast_id for c in open_ if c.broadcast_id is not None}:
        settle_broadcast(s, bid)
    return len(open_)


MAX_CEILINGS = 12


def volume_bands(s: Session, village_ids: Iterable[int]) -> dict[int, list[VolumeBand]]:
    """Each village's volume ceilings (one query); villages without any are left out."""
    found: dict[int, list[VolumeBand]] = {}
    ids = list(village_ids)
    if not ids:
        return found
    rows = s.scalars(
        select(VolumeCeiling)
        .where(VolumeCeiling.village_id.in_(ids))
        .order_by(VolumeCeiling.start, VolumeCeiling.id)
    )
    for row in rows:
        band = VolumeBand.parse(f"{row.start}-{row.end}", row.max_volume)
        found.setdefault(row.village_id, []).append(band)
    return found


def set_volume_ceilings(
    s: Session, ref: str | int, bands: list[tuple[str, int]]
) -> list[VolumeBand]:
    """Replace a village's volume ceilings with ``bands`` ("06:00-07:30", ceiling)."""
    village = find_village(s, ref)
    if len(bands) > MAX_CEILINGS:
        raise ValidationFailed(f"音量时段最多 {MAX_CEILINGS} 个", "ceilings")
    parsed = [VolumeBand.parse(band, ceiling, "ceilings") for band, ceiling in bands]
    for old in s.scalars(select(VolumeCeiling).where(VolumeCeiling.village_id == village.id)):
        s.delete(old)
    s.flush()
    for band in parsed:
        s.add(
            VolumeCeiling(
                village_id=village.id,
                start=f"{band.start:%H:%M}",
                end=f"{band.end:%H:%M}",
                max_volume=band.ceiling,
            )
        )
    s.flush()
    return sorted(parsed, key=lambda b: b.start)
