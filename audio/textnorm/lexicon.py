"""The pronunciation lexicon: staff-edited replacements applied before reading the text.

An entry maps written text (a place name, a polyphone word) to how it is said: a homophone
spelling (``蚌埠`` → ``迸步``) or tone-numbered pinyin in braces (``还田`` → ``{huan2 tian2}``).
"""

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from audio.errors import AudioError

MAX_WRITTEN = 50
MAX_SPOKEN = 100
PINYIN_BLOCK = re.compile(r"\{([^{}]*)\}")
_SYLLABLE = re.compile(r"[a-zü]{1,6}[1-5]")


@dataclass(frozen=True)
class LexiconEntry:
    written: str
    spoken: str

    def __post_init__(self) -> None:
        check_entry(self.written, self.spoken)


def check_entry(written: str, spoken: str) -> None:
    """Raise AudioError naming what is wrong with an entry."""
    if not written.strip() or written != written.strip():
        raise AudioError("lexicon: the written form must be non-empty, without outer spaces")
    if len(written) > MAX_WRITTEN:
        raise AudioError(f"lexicon: the written form is longer than {MAX_WRITTEN} characters")
    if not spoken.strip() or len(spoken) > MAX_SPOKEN:
        raise AudioError(f"lexicon: the spoken form must have 1-{MAX_SPOKEN} characters")
    if any(c in written for c in "{}"):
        raise AudioError("lexicon: the written form cannot contain braces")
    if spoken.count("{") != spoken.count("}") or PINYIN_BLOCK.sub("", spoken).count("{"):
        raise AudioError("lexicon: unbalanced braces in the spoken form")
    for block in PINYIN_BLOCK.findall(spoken):
        syllables = block.split()
        if not syllables or not all(_SYLLABLE.fullmatch(s) for s in syllables):
            raise AudioError(
                f"lexicon: {{{block}}} is not tone-numbered pinyin like {{huan2 tian2}}"
            )


class Lexicon:
    """An immutable set of entries; longer written forms win over shorter ones."""

    def __init__(self, entries: Iterable[LexiconEntry | tuple[str, str]] = ()) -> None:
        table: dict[str, str] = {}
        for entry in entries:
            e = entry if isinstance(entry, LexiconEntry) else LexiconEntry(*entry)
            table[e.written] = e.spoken
        self._table = dict(sorted(table.items()))
        alternatives = sorted(self._table, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(w) for w in alternatives)) if alternatives else None
        )

    def __len__(self) -> int:
        return len(self._table)

    def __bool__(self) -> bool:
        return bool(self._table)

    @property
    def entries(self) -> tuple[LexiconEntry, ...]:
        return tuple(LexiconEntry(w, s) for w, s in self._table.items())

    def apply(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._table[m.group()], text)

    def used_by(self, text: str) -> "Lexicon":
        """The entries that match somewhere in ``text``."""
        if self._pattern is None:
            return self
        used = {m.group() for m in self._pattern.finditer(text)}
        return Lexicon((w, self._table[w]) for w in used)

    def digest(self) -> str:
        """A hash of the entries, for cache keys: the same lexicon gives the same digest."""
        canonical = json.dumps(self._table, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
