"""The use cases, one transaction each, called by the panel, API, CLI, scheduler and gateway."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audio import AudioCache, AudioError, Lexicon, RenderedAudio, Renderer, RenderOptions
from broadcast import (
    accounts,
    firing,
    lexicon,
    media,
    notices,
    places,
    planning,
    preview,
    receipts,
    regions,
)
from broadcast import sound as notice_sound
from broadcast.accounts import UserView
from broadcast.errors import ValidationFailed
from broadcast.keys import KeyPair, b64
from broadcast.lexicon import LexiconEntryView
from broadcast.planning import EmergencyRequest, PlannedSchedule, ScheduleRequest
from broadcast.preview import PlannedPlay
from broadcast.settings import Settings
from broadcast.sound import NoticeSound
from broadcast.views import (
    BroadcastView,
    IncomingEvent,
    LogRow,
    NoticeView,
    OutgoingCommand,
    Provisioning,
    ScheduleView,
    SpeakerView,
    VillageView,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def _nothing(*_args: object) -> None:
    return None


@dataclass
class Services:
    """Facade over the domain. ``clock`` is the only source of "now" in the core."""

    engine: Engine
    sessions: sessionmaker[Session]
    settings: Settings
    renderer: Renderer
    cache: AudioCache
    server_key: KeyPair
    # HMAC key for expiring media URLs (see broadcast.media).
    media_secret: str
    clock: Clock
    # Called after commands were written (wakes the gateway) / schedules changed (scheduler).
    on_commands: Callable[[], None] = field(default=_nothing)
    on_schedules_changed: Callable[[], None] = field(default=_nothing)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self.sessions.begin() as s:
            yield s

    def now(self) -> datetime:
        return self.clock()

    def close(self) -> None:
        """Stop the synthesis worker and close the database connections (idempotent)."""
        self.renderer.close()
        self.engine.dispose()

    # -- places -----------------------------------------------------------------
    def add_village(self, name: str, code: str) -> VillageView:
        with self._tx() as s:
            return places.add_village(s, name, code, self.now())

    def set_quiet_hours(self, village: str | int, band: str | None) -> VillageView:
        with self._tx() as s:
            return places.set_quiet_hours(s, village, band)

    # -- regions: counties and towns, villager groups, zones -------------------------------
    def add_area(
        self, level: str, code: str, name: str, parent_code: str | None = None
    ) -> regions.AreaView:
        with self._tx() as s:
            return regions.add_area(s, level, code, name, parent_code, self.now())

    def list_areas(self) -> list[regions.AreaView]:
        with self._tx() as s:
            return regions.list_areas(s)

    def place_village(self, village: str | int, town_code: str) -> None:
        with self._tx() as s:
            regions.place_village(s, village, town_code)

    def add_group(self, village: str | int, name: str, code: str) -> regions.GroupView:
        with self._tx() as s:
            return regions.add_group(s, village, name, code, self.now())

    def assign_speaker(
        self,
        speaker_id: str,
        group: str | int | None = None,
        location: str | None = None,
        latitude: float | None = None,
        longitude: float | None = None,
    ) -> None:
        with self._tx() as s:
            regions.assign_speaker(s, speaker_id, group, location, latitude, longitude)

    def save_zone(
        self, name: str, villages: list[str | int], zone_id: int | None = None
    ) -> regions.ZoneView:
        with self._tx() as s:
            view = regions.save_zone(s, name, villages, self.now(), zone_id)
        self.on_schedules_changed()
        return view

    def list_zones(self) -> list[regions.ZoneView]:
        with self._tx() as s:
            return regions.list_zones(s)

    def delete_zone(self, zone: str | int) -> None:
        with self._tx() as s:
            regions.delete_zone(s, zone)

    def find_village(self, ref: str | int) -> VillageView:
        with self._tx() as s:
            v = places.find_village(s, ref)
            return VillageView(v.id, v.code, v.name, quiet_hours=v.quiet_hours)

    def list_villages(self) -> list[VillageView]:
        with self._tx() as s:
            return places.list_villages(s)

    def server_keys(self) -> dict[str, str]:
        return {self.server_key.key_id: b64(self.server_key.public)}

    def add_speaker(self, speaker_id: str, village: str | int, name: str = "") -> Provisioning:
        with self._tx() as s:
            return places.add_speaker(s, speaker_id, village, name, self.server_keys(), self.now())

    def list_speakers(self, village_id: int | None = None) -> list[SpeakerView]:
        with self._tx() as s:
            return places.list_speakers(s, village_id)

    def broker_accounts(self) -> list[tuple[str, str]]:
        with self._tx() as s:
            return places.active_speakers(s)

    def speaker_public_key(self, speaker_id: str) -> str | None:
        with self._tx() as s:
            return places.speaker_public_key(s, speaker_id)

    def set_availability(self, speaker_id: str, online: bool) -> bool:
        with self._tx() as s:
            return places.set_availability(s, speaker_id, online, self.now())

    def set_speaker_state(self, speaker_id: str, state: dict[str, object]) -> bool:
        with self._tx() as s:
            return places.set_state(s, speaker_id, state, self.now())

    def speaker_public_keys(self, speaker_ids: Iterable[str]) -> dict[str, str]:
        with self._tx() as s:
            return places.speaker_public_keys(s, speaker_ids)

    def update_speakers(
        self, online: dict[str, bool], states: dict[str, dict[str, object]]
    ) -> None:
        """Apply a burst of availability and state reports in one transaction.

        Rows are touched in loudspeaker-id order, the order firing locks them in, so the
        two never deadlock on PostgreSQL.
        """
        now = self.now()
        with self._tx() as s:
            for sid in sorted(set(online) | set(states)):
                if sid in online:
                    places.set_availability(s, sid, online[sid], now)
                if sid in states:
                    places.set_state(s, sid, states[sid], now)

    def revoke_speaker(self, speaker_id: str) -> int:
        """Revoke a loudspeaker (see places.revoke_speaker); the caller reloads the broker."""
        with self._tx() as s:
            closed = places.revoke_speaker(s, speaker_id, self.now())
        logger.info("loudspeaker %s revoked; %d open commands closed", speaker_id, closed)
        return closed

    # -- notices and audio ------------------------------------------------------------
    def render_options(self, sound: NoticeSound | None = None) -> RenderOptions:
        """The configured sound, with a notice's own choices (checked) over it."""
        a = self.settings.audio
        return notice_sound.render_options(notice_sound.resolve(sound, a), a)

    def render(
        self, text: str, field: str = "body", sound: NoticeSound | None = None
    ) -> RenderedAudio:
        """Render (or fetch from the cache) the speech for ``text``; also the 试听 preview.

        The current pronunciation lexicon is applied before synthesis (and is in the key)."""
        text = notices.check_body(text, field)
        resolved = notice_sound.resolve(sound, self.settings.audio)
        return self._render_text(text, resolved, field)[0]

    def _render_text(
        self, text: str, resolved: notice_sound.Sound, field: str
    ) -> tuple[RenderedAudio, str]:
        """The audio for checked ``text`` and the cache key it was rendered under."""
        options = notice_sound.render_options(resolved, self.settings.audio)
        lex = self.lexicon()
        try:
            audio = self.renderer.render_text(text, options, lex)
            return audio, self.renderer.cache_key(text, options, lex)
        except AudioError as exc:
            logger.warning("speech synthesis failed: %s", exc)
            raise notice_sound.synthesis_error(exc, options.voice, field) from exc

    def spoken_text(self, text: str, field: str = "text") -> str:
        """What is said for ``text``, in Chinese characters, with the lexicon applied."""
        text = notices.check_body(text, field)
        try:
            return self.renderer.spoken_text(text, self.lexicon())
        except AudioError as exc:
            raise ValidationFailed("这段文字无法朗读，请检查后重试", field) from exc

    def media_path(self, sha256: str) -> Path | None:
        """The cached audio file for a content hash, or None."""
        return self.cache.path_for(sha256)

    def media_url(self, sha256: str, expires_at: datetime) -> str:
        """A URL the loudspeakers can fetch until ``expires_at``."""
        return media.media_url(
            self.settings.web.base_url(), self.media_secret, sha256, int(expires_at.timestamp())
        )

    def check_media_token(self, sha256: str, expires_epoch: int, token: str) -> bool:
        return media.verify_media_token(
            self.media_secret, sha256, expires_epoch, token, int(self.now().timestamp())
        )

    def add_notice(
        self, title: str, body: str, created_by: str = "", sound: NoticeSound | None = None
    ) -> NoticeView:
        title, body = notices.check_notice_text(title, body)
        resolved = notice_sound.resolve(sound, self.settings.audio)
        audio, key = self._render_text(body, resolved, "body")
        with self._tx() as s:
            return notices.add_notice(
                s, title, body, audio, created_by, self.now(), resolved, audio_key=key
            )

    def add_recording(
        self,
        title: str,
        source: Path,
        filename: str,
        created_by: str = "",
        sound: NoticeSound | None = None,
        body: str = "",
    ) -> NoticeView:
        """A notice from an uploaded recording (mp3, wav, m4a, amr...): checked, transcoded,
        normalised and cached like speech. ``body`` is an optional transcript."""
        from audio.upload import file_sha256

        title = notices.check_title(title)
        body = notices.check_transcript(body)
        name = notice_sound.upload_filename(filename)
        resolved = notice_sound.resolve(sound, self.settings.audio)
        options = notice_sound.render_options(resolved, self.settings.audio)
        try:
            audio = self.renderer.render_file(source, options)
            source_sha256 = file_sha256(source)
        except (AudioError, OSError) as exc:
            logger.info("recording %r refused: %s", name, exc)
            raise notice_sound.upload_error(AudioError(str(exc))) from exc
        with self._tx() as s:
            return notices.add_notice(
                s,
                title,
                body,
                audio,
                created_by,
                self.now(),
                resolved,
                source=notices.Source(source_sha256, name),
            )

    def rerender_notice(self, notice_id: int) -> NoticeView:
        """Render a text notice again with its options and the current lexicon (重新合成).
        Broadcasts already sent keep the audio they were sent with."""
        with self._tx() as s:
            row = notices.get_notice(s, notice_id)
            if row.kind != "text":
                raise ValidationFailed("录音通知播放的是上传的录音，不需要重新合成", "notice")
            body, stored = row.body, notices.stored_sound(row)
        resolved = notice_sound.resolve(stored, self.settings.audio)
        audio, key = self._render_text(body, resolved, "body")
        with self._tx() as s:
            view = notices.set_audio(s, notice_id, audio, key, self.now())
        logger.info("notice %s rendered again: audio %s", notice_id, audio.sha256[:12])
        return view

    def notice_audio_current(self, notice_id: int) -> bool:
        """False when rendering the notice again would give different audio (the lexicon or
        the speech engine changed since); True when it would not, or nobody can tell."""
        with self._tx() as s:
            row = notices.get_notice(s, notice_id)
            if row.kind != "text" or row.audio_key is None:
                return True
            body, stored, key = row.body, notices.stored_sound(row), row.audio_key
        try:
            options = self.render_options(stored)
            return self.renderer.cache_key(body, options, self.lexicon()) == key
        except (AudioError, ValidationFailed):
            return True

    def audio_in_use(self) -> set[str]:
        """Audio the cache never evicts: stored notices' and open play commands'."""
        with self._tx() as s:
            return notices.audio_in_use(s, self.now())

    def list_notices(self) -> list[NoticeView]:
        with self._tx() as s:
            return notices.list_notices(s)

    def get_notice(self, notice_id: int) -> NoticeView:
        with self._tx() as s:
            return notices.notice_view(notices.get_notice(s, notice_id))

    # -- pronunciation lexicon ------------------------------------------------------------
    def lexicon(self) -> Lexicon:
        """The current lexicon, as the renderer applies it."""
        with self._tx() as s:
            return lexicon.load(s)

    def list_lexicon(self) -> list[LexiconEntryView]:
        with self._tx() as s:
            return lexicon.list_entries(s)

    def get_lexicon_entry(self, entry_id: int) -> LexiconEntryView:
        with self._tx() as s:
            return lexicon.entry_view(lexicon.get_entry(s, entry_id))

    def add_lexicon_entry(
        self, term: str, replacement: str, note: str = "", created_by: str = ""
    ) -> LexiconEntryView:
        with self._tx() as s:
            view = lexicon.add_entry(s, term, replacement, note, created_by, self.now())
        logger.info("lexicon: %r read as %r (added by %s)", view.term, view.replacement, created_by)
        return view

    def update_lexicon_entry(
        self, entry_id: int, term: str, replacement: str, note: str = ""
    ) -> LexiconEntryView:
        with self._tx() as s:
            view = lexicon.update_entry(s, entry_id, term, replacement, note, self.now())
        logger.info("lexicon: entry %s now reads %r as %r", entry_id, view.term, view.replacement)
        return view

    def delete_lexicon_entry(self, entry_id: int) -> None:
        with self._tx() as s:
            term = lexicon.delete_entry(s, entry_id)
        logger.info("lexicon: entry %s (%r) deleted", entry_id, term)

    # -- schedules and broadcasts ---------------------------------------------------------
    def add_schedule(self, req: ScheduleRequest, created_by: str = "") -> ScheduleView:
        """Save a routine schedule. A one-off due now fires at once, without waiting."""
        now = self.now()
        sched = self.settings.schedule
        with self._tx() as s:
            view = planning.add_schedule(
                s, req, self.settings.timezone, sched.quiet_hours, created_by, now
            )
        if view.kind == "once" and view.start_at <= now + timedelta(seconds=1):
            self.fire(view.id, view.start_at)
        self.on_schedules_changed()
        return view

    def update_schedule(self, schedule_id: int, req: ScheduleRequest) -> ScheduleView:
        now = self.now()
        with self._tx() as s:
            view = planning.update_schedule(
                s, schedule_id, req, self.settings.timezone, self.settings.schedule.quiet_hours, now
            )
        self.on_schedules_changed()
        return view

    def delete_schedule(self, schedule_id: int) -> None:
        with self._tx() as s:
            planning.delete_schedule(s, schedule_id)
        self.on_schedules_changed()

    def send_emergency(self, req: EmergencyRequest, created_by: str = "") -> BroadcastView:
        """Send an emergency now: it ignores quiet hours and pre-empts routine playback."""
        now = self.now()
        with self._tx() as s:
            row = planning.add_emergency(s, req, self.settings.timezone, created_by, now)
            schedule_id, planned = row.id, row.start_at
        bid = self.fire(schedule_id, planned)
        assert bid is not None
        self.on_schedules_changed()
        return self.list_broadcasts(1, bid)[0]

    def cancel_broadcast(self, broadcast_id: int, cancelled_by: str = "") -> int:
        """Stop a broadcast everywhere at once (signed stop commands). Returns their count."""
        stop_ttl = timedelta(seconds=self.settings.commands.stop_ttl_seconds)
        with self._tx() as s:
            stops = firing.cancel_broadcast(s, broadcast_id, cancelled_by, self.now(), stop_ttl)
        self.on_commands()
        self.on_schedules_changed()
        return stops

    def list_schedules(self) -> list[ScheduleView]:
        with self._tx() as s:
            return planning.list_schedules(s, self.now())

    def get_schedule(self, schedule_id: int) -> ScheduleView:
        with self._tx() as s:
            return planning.get_schedule(s, schedule_id, self.now())

    def set_schedule_enabled(self, schedule_id: int, enabled: bool) -> None:
        with self._tx() as s:
            planning.set_enabled(s, schedule_id, enabled, self.now())
        self.on_schedules_changed()

    def preview_plan(
        self, first_day: date, days: int = 1, village_ids: list[int] | None = None
    ) -> list[PlannedPlay]:
        """What will play where from ``first_day`` (local) for ``days`` days, with problems."""
        if not 1 <= days <= 31:
            raise ValidationFailed("预览天数须在 1–31 之间", "days")
        zone = self.settings.zone
        start = datetime.combine(first_day, datetime.min.time(), tzinfo=zone)
        end = start + timedelta(days=days)
        sched = self.settings.schedule
        with self._tx() as s:
            slots, facts = planning.preview_slots(
                s,
                start - timedelta(microseconds=1),
                end - timedelta(microseconds=1),
                sched.window_seconds,
                sched.quiet_hours,
                lambda sha: self.cache.path_for(sha) is not None,
                self.settings.timezone,
                village_ids,
            )
        return preview.arrange(slots, facts)

    def schedules_signature(self) -> tuple[int, int, str]:
        with self._tx() as s:
            return planning.schedules_signature(s)

    def planned_schedules(self) -> list[PlannedSchedule]:
        with self._tx() as s:
            return planning.planned_schedules(s, self.settings.schedule.window_seconds)

    def fired_since(self, since: datetime) -> dict[int, set[datetime]]:
        with self._tx() as s:
            return planning.fired_since(s, since)

    def fired_occurrences(self, schedule_id: int, since: datetime) -> set[datetime]:
        with self._tx() as s:
            return planning.fired_occurrences(s, schedule_id, since)

    def fire_many(self, schedule_ids: Sequence[int], planned_at: datetime) -> list[int | None]:
        """Fire the occurrences of several schedules due at one instant (idempotent), in
        one transaction, and wake the gateway."""
        if not schedule_ids:
            return []
        sched = self.settings.schedule

        def attempt() -> list[int | None]:
            with self._tx() as s:
                return firing.fire(
                    s, schedule_ids, planned_at, self.now(), sched.window_seconds, sched.quiet_hours
                )

        try:
            ids = attempt()
        except IntegrityError:
            # A concurrent fire of the same occurrence lost on the unique key: read the ids.
            ids = attempt()
        if any(bid is not None for bid in ids):
            self.on_commands()
        return ids

    def fire(self, schedule_id: int, planned_at: datetime) -> int | None:
        """Create the broadcast for one occurrence (idempotent) and wake the gateway."""
        return self.fire_many([schedule_id], planned_at)[0]

    def list_broadcasts(
        self, limit: int = 100, broadcast_id: int | None = None
    ) -> list[BroadcastView]:
        with self._tx() as s:
            return receipts.list_broadcasts(s, limit, broadcast_id)

    # -- outbox and receipts -----------------------------------------------------------
    def due_commands(self, limit: int = 500) -> list[OutgoingCommand]:
        resend = timedelta(seconds=self.settings.commands.resend_seconds)
        with self._tx() as s:
            return receipts.due_commands(s, self.now(), resend, limit)

    def mark_sent(self, command_ids: Sequence[str]) -> None:
        with self._tx() as s:
            receipts.mark_sent(s, command_ids, self.now())

    def expire_commands(self) -> int:
        with self._tx() as s:
            return receipts.expire_commands(s, self.now())

    def record_event(self, event: IncomingEvent) -> bool:
        with self._tx() as s:
            return receipts.record_event(s, event, self.now())

    def record_events(self, events: Sequence[IncomingEvent]) -> int:
        with self._tx() as s:
            return receipts.record_events(s, events, self.now())

    def playback_log(
        self, since: datetime | None = None, broadcast_id: int | None = None, limit: int = 500
    ) -> list[LogRow]:
        with self._tx() as s:
            return receipts.playback_log(s, since, broadcast_id, limit)

    # -- accounts -------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str = "admin") -> UserView:
        with self._tx() as s:
            return accounts.add_user(s, username, password, role, self.now())

    def authenticate(self, username: str, password: str) -> UserView | None:
        with self._tx() as s:
            return accounts.authenticate(s, username, password)

    def get_user(self, user_id: int) -> UserView | None:
        with self._tx() as s:
            return accounts.get_user(s, user_id)

    def count_users(self) -> int:
        with self._tx() as s:
            return accounts.count_users(s)
