"""Split text into short chunks at sentence boundaries.

pyttsx3 slows down quadratically on long input, so speech is synthesised chunk by chunk.
"""

import re

MAX_CHUNK_CHARS = 200

_TERMINATORS = "。！？；!?;."
_CLOSERS = "”’」』）)】》\"'"
# A sentence ends after 。！？；!?; (plus closing quotes or brackets), after a full stop
# followed by a space, or at a line break.
_SENTENCE = re.compile(rf"[^。！？；!?;\n]*?(?:[。！？；!?;]+[{_CLOSERS}]*|\.(?=\s)|\n|$)")
# Where a sentence that is too long may be cut instead.
_CLAUSE = re.compile(rf"[^，、,：:]*?(?:[，、,：:]+[{_CLOSERS}]*|$)")


def split_sentences(text: str) -> list[str]:
    """Return the sentences of ``text``, stripped, in order, without empty ones."""
    parts = (m.group().strip() for m in _SENTENCE.finditer(text))
    return [p for p in parts if p]


def split_chunks(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Pack whole sentences into chunks of at most ``max_chars`` characters.

    A sentence longer than that is cut at clause punctuation, then at spaces, then hard.
    A line without final punctuation (a title, a list item) is followed by a blank line,
    which espeak-ng pauses at like at a full stop. Chunks with nothing to say are dropped.
    """
    pieces: list[str] = []
    for sentence in split_sentences(text):
        pieces.extend(_cut(sentence, max_chars))
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        joined = current + _separator(current, piece) + piece if current else piece
        if current and len(joined) > max_chars:
            chunks.append(current)
            current = piece
        else:
            current = joined
    if current:
        chunks.append(current)
    return [c for c in chunks if any(ch.isalnum() for ch in c)]


def _cut(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    out: list[str] = []
    current = ""
    for m in _CLAUSE.finditer(sentence):
        clause = m.group()
        if not clause:
            continue
        if len(current) + len(clause) <= max_chars:
            current += clause
            continue
        if current:
            out.append(current.strip())
        while len(clause) > max_chars:
            head, clause = _hard_cut(clause, max_chars)
            out.append(head)
        current = clause
    if current.strip():
        out.append(current.strip())
    return [p for p in out if p]


def _hard_cut(text: str, max_chars: int) -> tuple[str, str]:
    """Cut at the last space within the limit (keeps Latin words whole), else at the limit."""
    space = text.rfind(" ", 1, max_chars + 1)
    cut = space if space > max_chars // 2 else max_chars
    return text[:cut].strip(), text[cut:].lstrip()


def _separator(left: str, right: str) -> str:
    if left[-1] not in _TERMINATORS + _CLOSERS:
        return "\n\n"  # the left piece ended at a line break
    return " " if left[-1].isascii() and right[0].isascii() else ""
