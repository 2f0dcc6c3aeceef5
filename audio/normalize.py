"""Text preparation before synthesis.

Only whitespace is tidied here; reading numbers, dates and letters is a later job.
"""

import re

from audio.errors import AudioError

MAX_TEXT_CHARS = 20000

# Ideographic (full-width) space, no-break spaces and the typographic spaces.
_WIDE_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000\t\f\v]")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_SPACE_RUN = re.compile(r" {2,}")
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")


def prepare_text(text: str) -> str:
    """Unify spaces and line breaks: one space between words, one newline between lines."""
    text = _LINE_BREAKS.sub("\n", text)
    text = _INVISIBLE.sub("", text)
    text = _WIDE_SPACES.sub(" ", text)
    lines = (_SPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def checked_text(text: str) -> str:
    """Validate a notice text and return it prepared for synthesis."""
    stripped = text.strip()
    if len(stripped) > MAX_TEXT_CHARS:
        raise AudioError(f"text too long: {len(stripped)} characters, at most {MAX_TEXT_CHARS}")
    prepared = prepare_text(stripped)
    if not prepared:
        raise AudioError("text is empty")
    return prepared
