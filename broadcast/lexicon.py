"""The pronunciation lexicon staff edit in the panel: a term and how it is read.

The entries are applied to a notice's text before it is read (``audio.Lexicon``); the entries
a text uses are part of its audio's cache key. Editing an entry never changes audio already
rendered: a notice keeps its audio until it is rendered again (重新合成).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from audio import AudioError, Lexicon, check_entry
from audio.textnorm.lexicon import MAX_SPOKEN, MAX_WRITTEN, PINYIN_BLOCK
from broadcast.errors import Conflict, NotFound, ValidationFailed
from broadcast.models import Pronunciation

MAX_NOTE = 200
# A tone-numbered pinyin syllable, as audio.textnorm.lexicon accepts it.
_SYLLABLE = re.compile(r"[a-zü]{1,6}[1-5]")


@dataclass(frozen=True)
class LexiconEntryView:
    id: int
    term: str
    replacement: str
    note: str
    created_by: str
    created_at: datetime
    updated_at: datetime


def check_fields(term: str, replacement: str, note: str) -> tuple[str, str, str]:
    """Tidy and check an entry; raises ValidationFailed on the field at fault."""
    term, note = term.strip(), note.strip()
    replacement = " ".join(replacement.split())
    if not term:
        raise ValidationFailed("请填写要改读音的词", "term")
    if len(term) > MAX_WRITTEN:
        raise ValidationFailed(f"词语不能超过 {MAX_WRITTEN} 字", "term")
    if "{" in term or "}" in term:
        raise ValidationFailed("词语里不能有花括号 { }", "term")
    if not replacement:
        raise ValidationFailed("请填写读法", "replacement")
    if len(replacement) > MAX_SPOKEN:
        raise ValidationFailed(f"读法不能超过 {MAX_SPOKEN} 字", "replacement")
    if replacement == term:
        raise ValidationFailed("读法和原词一样，不需要添加", "replacement")
    if (
        replacement.count("{") != replacement.count("}")
        or "{" in PINYIN_BLOCK.sub("", replacement)
        or "}" in PINYIN_BLOCK.sub("", replacement)
    ):
        raise ValidationFailed("读法里的花括号 { } 没有成对", "replacement")
    for block in PINYIN_BLOCK.findall(replacement):
        syllables = block.split()
        if not syllables or not all(_SYLLABLE.fullmatch(s) for s in syllables):
            raise ValidationFailed(
                f"“{{{block}}}”不是带声调数字的拼音，应写成 {{huan2 tian2}} 这样", "replacement"
            )
    if len(note) > MAX_NOTE:
        raise ValidationFailed(f"备注不能超过 {MAX_NOTE} 字", "note")
    try:
        check_entry(term, replacement)  # the speech pipeline's own rules have the last word
    except AudioError as exc:
        raise ValidationFailed("这个读法无法用于合成，请检查后重试", "replacement") from exc
    return term, replacement, note


def entry_view(row: Pronunciation) -> LexiconEntryView:
    return LexiconEntryView(
        id=row.id,
        term=row.term,
        replacement=row.replacement,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_entries(s: Session) -> list[LexiconEntryView]:
    rows = s.scalars(select(Pronunciation).order_by(Pronunciation.term))
    return [entry_view(row) for row in rows]


def load(s: Session) -> Lexicon:
    """The lexicon as the renderer takes it."""
    rows = s.execute(select(Pronunciation.term, Pronunciation.replacement))
    return Lexicon((term, replacement) for term, replacement in rows)


def get_entry(s: Session, entry_id: int) -> Pronunciation:
    row = s.get(Pronunciation, entry_id)
    if row is None:
        raise NotFound(f"找不到读音条目 {entry_id}")
    return row


def _refuse_duplicate(s: Session, term: str, entry_id: int | None) -> None:
    found = s.scalar(select(Pronunciation.id).where(Pronunciation.term == term))
    if found is not None and found != entry_id:
        raise Conflict(f"“{term}”已经有读法了，请直接修改那一条")


def add_entry(
    s: Session, term: str, replacement: str, note: str, created_by: str, now: datetime
) -> LexiconEntryView:
    term, replacement, note = check_fields(term, replacement, note)
    _refuse_duplicate(s, term, None)
    row = Pronunciation(
        term=term,
        replacement=replacement,
        note=note,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    s.add(row)
    _flush(s, term)
    return entry_view(row)


def update_entry(
    s: Session, entry_id: int, term: str, replacement: str, note: str, now: datetime
) -> LexiconEntryView:
    row = get_entry(s, entry_id)
    term, replacement, note = check_fields(term, replacement, note)
    _refuse_duplicate(s, term, entry_id)
    row.term, row.replacement, row.note, row.updated_at = term, replacement, note, now
    _flush(s, term)
    return entry_view(row)


def delete_entry(s: Session, entry_id: int) -> str:
    """Remove an entry; returns its term."""
    row = get_entry(s, entry_id)
    s.delete(row)
    s.flush()
    return row.term


def _flush(s: Session, term: str) -> None:
    try:
        s.flush()
    except IntegrityError as exc:  # the same term added at the same moment elsewhere
        raise Conflict(f"“{term}”已经有读法了，请直接修改那一条") from exc
