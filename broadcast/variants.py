"""How each village hears a notice: its own voice, speech rate and audio format.

A village may set a voice and a speech rate (None: the configured default) and the format
its loudspeakers get (``mp3``, or ``opus`` at 16 kbps for weak links). A notice whose own
voice or rate differs from the configured default keeps it everywhere (the notice
overrides the village); recordings keep their voice, only their format changes.

Where a village would hear something other than the notice's own audio, that audio is a
*variant* (``NoticeVariant``), rendered ahead of any broadcast: when the notice is saved
or rendered again (for every sound the villages use), when a schedule is saved (for its
villages) and when a village's sound changes (for its schedules). Firing only looks
variants up; a missing one falls back to the notice's own audio, and says so in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from audio import AudioError, RenderedAudio
from audio.espeak import check_voice
from broadcast import sound
from broadcast.errors import ValidationFailed
from broadcast.models import Notice, NoticeVariant, Schedule, Village, Zone
from broadcast.settings import AudioSettings

logger = logging.getLogger(__name__)

FORMATS = ("mp3", "opus")
FORMAT_LABELS = {"mp3": "MP3（默认）", "opus": "Opus 16 kbps（网络差的村）"}


@dataclass(frozen=True)
class Spec:
    """What a variant differs in: ``voice`` "" and ``rate`` 0 keep the notice's own."""

    voice: str
    rate: int
    audio_format: str


@dataclass(frozen=True)
class VillageSound:
    voice: str | None
    rate: int | None
    audio_format: str


@dataclass(frozen=True)
class Job:
    """A variant to render: the notice as it stands, and what to change."""

    notice_id: int
    spec: Spec
    kind: str
    body: str
    sound: sound.NoticeSound
    audio_sha256: str
    audio_format: str = "mp3"


@dataclass(frozen=True)
class Audio:
    """The audio a play command names."""

    sha256: str
    size: int
    duration_ms: int
    audio_format: str = "mp3"


def check_village_sound(
    voice: str | None, rate: int | None, audio_format: str | None
) -> VillageSound:
    """Checked sound settings of a village; raises ValidationFailed on their field."""
    voice = (voice or "").strip() or None
    if voice is not None:
        try:
            sound.resolve(sound.NoticeSound(voice=voice), AudioSettings())
            check_voice(voice)
        except AudioError as exc:
            raise ValidationFailed(
                f"本机没有安装语音“{voice[:64]}”，请换一个语音", "voice"
            ) from exc
    if rate is not None and not sound.MIN_RATE <= rate <= sound.MAX_RATE:
        raise ValidationFailed(f"语速须在 {sound.MIN_RATE}–{sound.MAX_RATE} 之间", "rate")
    fmt = (audio_format or "mp3").strip().lower()
    if fmt not in FORMATS:
        raise ValidationFailed("音频格式只能是 MP3 或 Opus", "audio_format")
    return VillageSound(voice, rate, fmt)


def set_village_sound(s: Session, village: Village, wanted: VillageSound) -> None:
    village.voice, village.rate, village.audio_format = (
        wanted.voice,
        wanted.rate,
        wanted.audio_format,
    )
    s.flush()


def spec_for(notice: Notice, village: Village, defaults: AudioSettings) -> Spec | None:
    """How ``village`` hears ``notice`` if not as the notice's own audio, else None."""
    fmt = village.audio_format or "mp3"
    voice, rate = "", 0
    if notice.kind == "text":
        own_voice = notice.voice or defaults.voice
        own_rate = notice.rate or defaults.rate
        if village.voice and own_voice == defaults.voice and village.voice != own_voice:
            voice = village.voice
        if village.rate and own_rate == defaults.rate and village.rate != own_rate:
            rate = village.rate
    if not voice and not rate and fmt == "mp3":
        return None
    return Spec(voice, rate, fmt)


def job_for(notice: Notice, spec: Spec) -> Job:
    asked = sound.NoticeSound(
        voice=spec.voice or notice.voice,
        rate=spec.rate or notice.rate,
        repeat=notice.repeat,
        chime=notice.chime,
        closing=notice.closing,
    )
    return Job(
        notice.id, spec, notice.kind, notice.body, asked, notice.audio_sha256, spec.audio_format
    )


def jobs(
    s: Session,
    defaults: AudioSettings,
    notice_ids: Iterable[int] = (),
    village_ids: Iterable[int] | None = None,
    schedule_ids: Iterable[int] = (),
) -> list[Job]:
    """Variants missing for ``notice_ids`` (heard in ``village_ids``, or in every village)
    and for the notices and villages of ``schedule_ids`` (and, with ``village_ids`` alone,
    for the enabled schedules that reach those villages)."""
    pairs: set[tuple[int, int]] = set()  # (notice id, village id)
    wanted_villages = None if village_ids is None else set(village_ids)
    notice_set = set(notice_ids)
    # Only villages with a sound of their own can need a variant (see ``spec_for``); with
    # none, saving a schedule costs no query of its targets.
    villages = {
        v.id: v
        for v in s.scalars(
            select(Village).where(
                or_(
                    func.coalesce(Village.voice, "") != "",
                    func.coalesce(Village.rate, 0) != 0,
                    func.coalesce(Village.audio_format, "mp3") != "mp3",
                )
            )
        )
    }
    if not villages:
        return []
    if notice_set:
        for nid in notice_set:
            for vid in villages if wanted_villages is None else wanted_villages:
                pairs.add((nid, vid))
    schedule_set = set(schedule_ids)
    if schedule_set or (wanted_villages is not None and not notice_set):
        query = select(Schedule).options(
            selectinload(Schedule.villages),
            selectinload(Schedule.zones).selectinload(Zone.villages),
            selectinload(Schedule.groups),
            selectinload(Schedule.speakers),
        )
        if schedule_set:
            query = query.where(Schedule.id.in_(schedule_set))
        else:
            query = query.where(Schedule.enabled.is_(True))
        for row in s.scalars(query):
            reached = _villages_of(row)
            if not schedule_set and wanted_villages is not None:
                reached &= wanted_villages
            pairs.update((row.notice_id, vid) for vid in reached)
    if not pairs:
        return []
    found = {n.id: n for n in s.scalars(select(Notice).where(Notice.id.in_({n for n, _ in pairs})))}
    have = current(s, found.values())
    out: dict[tuple[int, Spec], Job] = {}
    for nid, vid in sorted(pairs):
        notice, village = found.get(nid), villages.get(vid)
        if notice is None or village is None:
            continue
        spec = spec_for(notice, village, defaults)
        if spec is None or (nid, spec) in have or (nid, spec) in out:
            continue
        out[(nid, spec)] = job_for(notice, spec)
    return list(out.values())


def _villages_of(row: Schedule) -> set[int]:
    ids = {v.id for v in row.villages}
    for zone in row.zones:
        ids.update(v.id for v in zone.villages)
    ids.update(g.village_id for g in row.groups)
    ids.update(sp.village_id for sp in row.speakers)
    return ids


def current(s: Session, notices: Iterable[Notice]) -> dict[tuple[int, Spec], Audio]:
    """The variants made from each notice's present audio, by (notice id, spec)."""
    own = {n.id: n.audio_sha256 for n in notices}
    if not own:
        return {}
    out: dict[tuple[int, Spec], Audio] = {}
    for v in s.scalars(select(NoticeVariant).where(NoticeVariant.notice_id.in_(own))):
        if v.source_sha256 != own.get(v.notice_id):
            continue  # made from audio the notice no longer has
        spec = Spec(v.voice, v.rate, v.audio_format)
        out[(v.notice_id, spec)] = Audio(
            v.audio_sha256, v.audio_size, v.audio_duration_ms, v.audio_format
        )
    return out


def store(s: Session, job: Job, audio: RenderedAudio, now: datetime) -> bool:
    """Record a rendered variant; False if the notice changed (or went) meanwhile."""
    notice = s.get(Notice, job.notice_id)
    if notice is None or notice.audio_sha256 != job.audio_sha256:
        return False
    spec = job.spec
    row = s.scalar(
        select(NoticeVariant).where(
            NoticeVariant.notice_id == job.notice_id,
            NoticeVariant.voice == spec.voice,
            NoticeVariant.rate == spec.rate,
            NoticeVariant.audio_format == spec.audio_format,
        )
    )
    if row is None:
        row = NoticeVariant(
            notice_id=job.notice_id,
            voice=spec.voice,
            rate=spec.rate,
            audio_format=spec.audio_format,
        )
        s.add(row)
    row.audio_sha256, row.audio_size = audio.sha256, audio.size
    row.audio_duration_ms, row.source_sha256, row.rendered_at = (
        audio.duration_ms,
        job.audio_sha256,
        now,
    )
    s.flush()
    return True


def audio_for(
    notice: Notice,
    village: Village,
    defaults: AudioSettings,
    found: dict[tuple[int, Spec], Audio],
    broadcast_id: int,
) -> Audio:
    """The audio ``village``'s loudspeakers play for ``notice``: its variant, or the
    notice's own when none is needed or it is missing (logged)."""
    own = Audio(notice.audio_sha256, notice.audio_size, notice.audio_duration_ms)
    spec = spec_for(notice, village, defaults)
    if spec is None:
        return own
    variant = found.get((notice.id, spec))
    if variant is None:
        logger.warning(
            "broadcast %s: no %s audio (voice %r, rate %s) of notice %s for village %s "
            "rendered yet; its loudspeakers get the notice's own MP3",
            broadcast_id,
            spec.audio_format,
            spec.voice or "-",
            spec.rate or "-",
            notice.id,
            village.id,
        )
        return own
    return variant


def audio_in_use(s: Session) -> set[str]:
    """Variant audio the cache must keep (that of the notices' present audio)."""
    notices = list(s.scalars(select(Notice)))
    return {a.sha256 for a in current(s, notices).values()}
