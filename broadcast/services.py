"""The use cases, one transaction each, called by the panel, API, CLI, scheduler and gateway."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from audio import AudioCache, AudioError, Lexicon, RenderedAudio, Renderer, RenderOptions
from audio.sequence import Piece, render_sequence
from broadcast import (
    accounts,
    approval,
    asrun,
    audit,
    emergencies,
    firing,
    health,
    lexicon,
    media,
    notices,
    places,
    planning,
    preview,
    programmes,
    receipts,
    regions,
    reports,
    scope,
    variants,
)
from broadcast import sound as notice_sound
from broadcast.accounts import UserView
from broadcast.emergencies import EmergencySummary
from broadcast.errors import NotFound, PermissionDenied, ValidationFailed
from broadcast.governance import Governance
from broadcast.keys import KeyPair, b64
from broadcast.lexicon import LexiconEntryView
from broadcast.planning import EmergencyRequest, PlannedSchedule, ScheduleRequest
from broadcast.preview import PlannedPlay
from broadcast.programmes import ProgrammeRequest, ProgrammeView
from broadcast.recurrence import VolumeBand
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
class Services(Governance):
    """Facade over the domain. ``clock`` is the only source of "now" in the core.

    Changes are attributed to ``audit.current_actor()`` and audited; an acting account sees
    and targets only the villages in its scope (see broadcast.governance, broadcast.scope).
    """

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
        with self.sessions() as s, s.begin():
            s.info.update(audit.session_info(audit.current_actor(), self.clock))
            s.info[approval.INFO_REQUIRED] = self.settings.approval.required
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
            visible = scope.visible_zone_ids(s, self._scope(s))
            return [z for z in regions.list_zones(s) if visible is None or z.id in visible]

    def delete_zone(self, zone: str | int) -> None:
        with self._tx() as s:
            regions.delete_zone(s, zone)

    def get_zone(self, zone: str | int) -> regions.ZoneView:
        with self._tx() as s:
            return regions.get_zone(s, zone)

    def rename_area(self, area_id: int, name: str) -> regions.AreaView:
        with self._tx() as s:
            return regions.rename_area(s, area_id, name)

    def delete_area(self, area_id: int) -> None:
        with self._tx() as s:
            regions.delete_area(s, area_id)

    def place_villages(self) -> list[regions.PlaceVillage]:
        with self._tx() as s:
            return regions.place_villages(s)

    def edit_village(self, village_id: int, name: str, code: str, town_code: str | None) -> None:
        with self._tx() as s:
            regions.edit_village(s, village_id, name, code, town_code)
        self.on_schedules_changed()

    def delete_village(self, village_id: int) -> None:
        with self._tx() as s:
            regions.delete_village(s, village_id)
        self.on_schedules_changed()

    def list_groups(self) -> list[tuple[regions.GroupView, str]]:
        with self._tx() as s:
            return regions.list_groups(s)

    def rename_group(self, group: str | int, name: str) -> regions.GroupView:
        with self._tx() as s:
            return regions.rename_group(s, group, name)

    def delete_group(self, group: str | int) -> None:
        with self._tx() as s:
            regions.delete_group(s, group)

    def volume_ceilings(self, village: str | int) -> list[VolumeBand]:
        """A village's volume ceilings by time band, earliest first."""
        with self._tx() as s:
            vid = places.find_village(s, village).id
            return places.volume_bands(s, [vid]).get(vid, [])

    def set_volume_ceilings(
        self, village: str | int, bands: list[tuple[str, int]]
    ) -> list[VolumeBand]:
        """Replace a village's ceilings: ("06:00-07:30", 60) plays routine broadcasts that
        start in the band at most at 60; emergencies ignore ceilings."""
        with self._tx() as s:
            return places.set_volume_ceilings(s, village, bands)

    def find_village(self, ref: str | int) -> VillageView:
        with self._tx() as s:
            v = places.find_village(s, ref)
            return VillageView(v.id, v.code, v.name, quiet_hours=v.quiet_hours)

    def list_villages(self) -> list[VillageView]:
        """The villages the acting account may see (all for the CLI and the machine)."""
        with self._tx() as s:
            visible = self._scope(s)
            return [v for v in places.list_villages(s) if visible is None or v.id in visible]

    def server_keys(self) -> dict[str, str]:
        return {self.server_key.key_id: b64(self.server_key.public)}

    def add_speaker(self, speaker_id: str, village: str | int, name: str = "") -> Provisioning:
        with self._tx() as s:
            return places.add_speaker(s, speaker_id, village, name, self.server_keys(), self.now())

    def list_speakers(self, village_id: int | None = None) -> list[SpeakerView]:
        with self._tx() as s:
            visible = self._scope(s)
            found = places.list_speakers(s, village_id)
            return [sp for sp in found if visible is None or sp.village_id in visible]

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

    def media_path(self, sha256: str, fmt: str | None = None) -> Path | None:
        """The cached audio file for a content hash (in format ``fmt``), or None."""
        return self.cache.path_for(sha256, fmt)

    def media_url(self, sha256: str, expires_at: datetime, fmt: str = "mp3") -> str:
        """A URL the loudspeakers can fetch until ``expires_at`` (``fmt``: mp3 or opus)."""
        return media.media_url(
            self.settings.web.media_base_url(),
            self.media_secret,
            sha256,
            int(expires_at.timestamp()),
            fmt,
        )

    def check_media_token(self, sha256: str, expires_epoch: int, token: str) -> bool:
        return media.verify_media_token(
            self.media_secret, sha256, expires_epoch, token, int(self.now().timestamp())
        )

    def add_notice(
        self,
        title: str,
        body: str,
        created_by: str = "",
        sound: NoticeSound | None = None,
        *,
        approve: bool = False,
    ) -> NoticeView:
        """Store a notice as a draft for review (``approve``: approved by its author in the
        same step, e.g. ``cunxiang notice add --approve``; audited)."""
        title, body = notices.check_notice_text(title, body)
        resolved = notice_sound.resolve(sound, self.settings.audio)
        audio, key = self._render_text(body, resolved, "body")
        with self._tx() as s:
            self._require(s, "write", "编辑通知")
            view = notices.add_notice(
                s, title, body, audio, created_by, self.now(), resolved, audio_key=key
            )
            self._after_create(s, "notice", view.id, approve)
            view = notices.notice_view(notices.get_notice(s, view.id))
        self.prepare_variants(notice_ids=[view.id])
        return view

    def add_recording(
        self,
        title: str,
        source: Path,
        filename: str,
        created_by: str = "",
        sound: NoticeSound | None = None,
        body: str = "",
        *,
        approve: bool = False,
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
            self._require(s, "write", "编辑通知")
            view = notices.add_notice(
                s,
                title,
                body,
                audio,
                created_by,
                self.now(),
                resolved,
                source=notices.Source(source_sha256, name),
            )
            self._after_create(s, "notice", view.id, approve)
            view = notices.notice_view(notices.get_notice(s, view.id))
        self.prepare_variants(notice_ids=[view.id])
        return view

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
        self._reassemble_programmes(notice_id)
        self.prepare_variants(notice_ids=[notice_id])
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
        """Audio the cache never evicts: stored notices' (and their variants') and open
        play commands'."""
        with self._tx() as s:
            return notices.audio_in_use(s, self.now()) | variants.audio_in_use(s)

    # -- how each village hears notices: voice, rate, format (see broadcast.variants) ----
    def village_sound(self, village: str | int) -> variants.VillageSound:
        with self._tx() as s:
            v = places.find_village(s, village)
            return variants.VillageSound(v.voice, v.rate, v.audio_format or "mp3")

    def set_village_sound(
        self, village: str | int, voice: str | None, rate: int | None, audio_format: str | None
    ) -> variants.VillageSound:
        """Set a village's voice, speech rate and audio format, then render the variants
        its schedules' notices now need (so that no broadcast waits for them)."""
        wanted = variants.check_village_sound(voice, rate, audio_format)
        with self._tx() as s:
            self._require(s, "write", "编辑村庄")
            v = places.find_village(s, village)
            variants.set_village_sound(s, v, wanted)
            vid = v.id
        logger.info("village %s sound: %s", vid, wanted)
        self.prepare_variants(village_ids=[vid])
        return wanted

    def prepare_variants(
        self,
        notice_ids: Iterable[int] = (),
        village_ids: Iterable[int] | None = None,
        schedule_ids: Iterable[int] = (),
    ) -> int:
        """Render the variants that are missing (see ``variants.jobs``); returns how many
        were made. One that fails is logged and skipped: its villages get the notice's own
        audio."""
        with self._tx() as s:
            todo = variants.jobs(s, self.settings.audio, notice_ids, village_ids, schedule_ids)
        made = 0
        for job in todo:
            try:
                audio = self._render_variant(job)
            except (AudioError, ValidationFailed, OSError) as exc:
                logger.warning(
                    "variant %s of notice %s not rendered: %s", job.spec, job.notice_id, exc
                )
                continue
            with self._tx() as s:
                made += variants.store(s, job, audio, self.now())
        if made:
            logger.info("rendered %d notice variant(s)", made)
        return made

    def _render_variant(self, job: variants.Job) -> RenderedAudio:
        a = self.settings.audio
        if job.kind == "text":
            resolved = notice_sound.resolve(job.sound, a)
            options = notice_sound.render_options(resolved, a)
            profile = RenderOptions.profile(job.audio_format)
            options = replace(options, format=profile.format, bitrate=profile.bitrate)
            return self.renderer.render_text(job.body, options, self.lexicon())
        # a recording (or a programme): its own audio, in another format
        source = self.cache.path_for(job.audio_sha256)
        if source is None:
            raise AudioError(f"audio {job.audio_sha256[:12]} is not in the cache")
        options = RenderOptions.profile(
            job.audio_format, chime=False, repeat=1, loudness_lufs=a.loudness_lufs
        )
        return self.renderer.render_file(source, options)

    def list_notices(self) -> list[NoticeView]:
        with self._tx() as s:
            return notices.list_notices(s)

    def get_notice(self, notice_id: int) -> NoticeView:
        with self._tx() as s:
            return notices.notice_view(notices.get_notice(s, notice_id))

    # -- programmes (节目单) ------------------------------------------------------------
    def _assemble(self, s: Session, req: ProgrammeRequest, programme_id: int | None) -> list[Piece]:
        return programmes.pieces(programmes.check(s, req, programme_id), self.cache.path_for)

    def save_programme(
        self, req: ProgrammeRequest, programme_id: int | None = None, created_by: str = ""
    ) -> ProgrammeView:
        """Create (or, with ``programme_id``, replace) a programme and assemble its audio;
        schedule its ``notice_id`` to play it."""
        with self._tx() as s:
            parts = self._assemble(s, req, programme_id)
        options = notice_sound.render_options(
            notice_sound.resolve(None, self.settings.audio), self.settings.audio
        )
        try:
            audio = render_sequence(self.cache, parts, options)
        except AudioError as exc:
            logger.warning("programme %r not assembled: %s", req.name, exc)
            raise ValidationFailed("节目单音频拼接失败，请检查各项后重试", "items") from exc
        with self._tx() as s:
            view = programmes.save(s, programme_id, req, audio, created_by, self.now())
        logger.info(
            "programme %s (%s) saved: %d items, %d ms",
            view.id,
            view.name,
            len(view.items),
            view.audio_duration_ms,
        )
        self.prepare_variants(notice_ids=[view.notice_id])  # villages on other formats
        self.on_schedules_changed()
        return view

    def list_programmes(self) -> list[ProgrammeView]:
        with self._tx() as s:
            return programmes.list_programmes(s)

    def get_programme(self, programme_id: int) -> ProgrammeView:
        with self._tx() as s:
            return programmes.get(s, programme_id)

    def delete_programme(self, programme_id: int) -> None:
        with self._tx() as s:
            programmes.delete(s, programme_id)

    def _reassemble_programmes(self, notice_id: int) -> None:
        """Programmes playing a notice whose audio changed are assembled again."""
        with self._tx() as s:
            found = [
                (pid, programmes.stored_request(s, pid))
                for pid in programmes.using_notice(s, notice_id)
            ]
        for pid, req in found:
            self.save_programme(req, pid)

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
    def add_schedule(
        self, req: ScheduleRequest, created_by: str = "", *, approve: bool = False
    ) -> ScheduleView:
        """Save a routine schedule: it goes to review (or is approved at once with
        ``approve``, or when review is off). An approved one-off due now fires at once."""
        now = self.now()
        sched = self.settings.schedule
        with self._tx() as s:
            self._require(s, "write", "编辑播放计划")
            view = planning.add_schedule(
                s, req, self.settings.timezone, sched.quiet_hours, created_by, now
            )
            scope.check_schedule(s, self._scope(s), view.id)
            approved = self._after_create(s, "schedule", view.id, approve) == approval.APPROVED
            view = planning.get_schedule(s, view.id, now)
        self.prepare_variants(schedule_ids=[view.id])  # before it can fire
        if approved and view.kind == "once" and view.start_at <= now + timedelta(seconds=1):
            self.fire(view.id, view.start_at)
        self.on_schedules_changed()
        return view

    def update_schedule(self, schedule_id: int, req: ScheduleRequest) -> ScheduleView:
        """Edit a schedule (an approved one goes back to review)."""
        now = self.now()
        with self._tx() as s:
            self._require(s, "write", "编辑播放计划")
            visible = self._scope(s)
            scope.check_schedule(s, visible, schedule_id)
            view = planning.update_schedule(
                s, schedule_id, req, self.settings.timezone, self.settings.schedule.quiet_hours, now
            )
            scope.check_schedule(s, visible, schedule_id)
            s.flush()
            view = planning.get_schedule(s, schedule_id, now)
        self.prepare_variants(schedule_ids=[schedule_id])
        self.on_schedules_changed()
        return view

    def delete_schedule(self, schedule_id: int) -> None:
        with self._tx() as s:
            self._require(s, "write", "删除播放计划")
            scope.check_schedule(s, self._scope(s), schedule_id)
            planning.delete_schedule(s, schedule_id)
        self.on_schedules_changed()

    def send_emergency(self, req: EmergencyRequest, created_by: str = "") -> BroadcastView:
        """Send an emergency now: it ignores quiet hours and pre-empts routine playback.
        One that needs a second person's confirmation is refused here: the panel and the
        API use ``request_emergency`` and ``confirm_emergency``."""
        outcome = self.request_emergency(req, created_by)
        if outcome.broadcast is None:
            self.withdraw_emergency(outcome.schedule_id, "未经第二人确认，已撤回")
            raise PermissionDenied("发往多个村的应急广播需要第二人确认")
        return outcome.broadcast

    def check_emergency(self, req: EmergencyRequest) -> EmergencySummary:
        """What an emergency would reach (villages, groups, loudspeakers, how many online),
        checked as sending it would be; nothing is sent."""
        with self._tx() as s:
            return emergencies.summarise_emergency(s, req)

    def cancel_broadcast(self, broadcast_id: int, cancelled_by: str = "") -> int:
        """Stop a broadcast everywhere at once (signed stop commands). Returns their count."""
        stop_ttl = timedelta(seconds=self.settings.commands.stop_ttl_seconds)
        with self._tx() as s:
            # Only whoever covers every village it reaches may stop it.
            scope.check_villages(s, self._scope(s), receipts.broadcast_village_ids(s, broadcast_id))
            stops = firing.cancel_broadcast(s, broadcast_id, cancelled_by, self.now(), stop_ttl)
        self.on_commands()
        self.on_schedules_changed()
        return stops

    def list_schedules(self) -> list[ScheduleView]:
        """Schedules that reach at least one village the acting account sees."""
        with self._tx() as s:
            visible = scope.visible_schedule_ids(s, self._scope(s))
            views = planning.list_schedules(s, self.now())
            return [v for v in views if visible is None or v.id in visible]

    def get_schedule(self, schedule_id: int) -> ScheduleView:
        with self._tx() as s:
            visible = scope.visible_schedule_ids(s, self._scope(s))
            if visible is not None and schedule_id not in visible:
                raise NotFound(f"找不到播放计划 {schedule_id}")
            return planning.get_schedule(s, schedule_id, self.now())

    def set_schedule_enabled(self, schedule_id: int, enabled: bool) -> None:
        with self._tx() as s:
            self._require(s, "write", "启用或停用播放计划")
            scope.check_schedule(s, self._scope(s), schedule_id)
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
            visible = self._scope(s)
            if visible is not None:
                village_ids = sorted(visible & set(village_ids or visible))
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
                    s,
                    schedule_ids,
                    planned_at,
                    self.now(),
                    sched.window_seconds,
                    sched.quiet_hours,
                    self.settings.audio,
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
            return receipts.list_broadcasts(s, limit, broadcast_id, self._scope(s))

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
            return receipts.playback_log(s, since, broadcast_id, limit, self._scope(s))

    # -- as-run log, reports, health, public page (``village_ids``: an account's scope) ------
    def asrun_page(
        self,
        f: asrun.LogFilter,
        village_ids: Collection[int] | None = None,
        page: int = 0,
        per_page: int = 20,
    ) -> asrun.LogPage:
        with self._tx() as s:
            return asrun.log_page(s, f, self.settings.zone, village_ids, page, per_page)

    def broadcast_detail(
        self, broadcast_id: int, village_ids: Collection[int] | None = None
    ) -> asrun.BroadcastDetail:
        with self._tx() as s:
            return asrun.broadcast_detail(s, broadcast_id, village_ids)

    def count_asrun_rows(
        self, f: asrun.LogFilter, village_ids: Collection[int] | None = None
    ) -> int:
        with self._tx() as s:
            return asrun.count_rows(s, f, self.settings.zone, village_ids)

    def export_asrun(
        self, f: asrun.LogFilter, village_ids: Collection[int] | None = None
    ) -> Iterator[asrun.AsRunRow]:
        """Rows streamed from one read-only session, closed when the iteration ends."""
        f.check()
        with self.sessions() as s:
            yield from asrun.iter_rows(s, f, self.settings.zone, village_ids)

    def period_report(
        self, first: date, last: date, village_ids: Collection[int] | None = None
    ) -> reports.PeriodReport:
        with self._tx() as s:
            return reports.period_report(s, first, last, self.settings.zone, village_ids)

    def speaker_health(
        self, days: int = 7, village_ids: Collection[int] | None = None
    ) -> health.HealthReport:
        with self._tx() as s:
            return health.health_report(s, self.now(), self.settings.zone, days, village_ids)

    def village_heard(
        self, village: str | int
    ) -> tuple[VillageView, list[reports.PublicBroadcast]]:
        """A village and what was broadcast there lately (for the public page)."""
        with self._tx() as s:
            v = places.find_village(s, village)
            view = VillageView(v.id, v.code, v.name)
            return view, reports.village_heard(s, v.id, self.now())

    # -- accounts -------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: str = "admin") -> UserView:
        with self._tx() as s:
            self._require(s, "accounts", "管理账号")
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
