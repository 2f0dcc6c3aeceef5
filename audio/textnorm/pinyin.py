"""Spoken Chinese to tone-numbered pinyin for espeak-ng's ``cmn-latn-pinyin`` voice.

pypinyin's phrase dictionary picks the right reading of polyphones (银行 yin2 hang2,
重新 chong2 xin1, 村长 cun1 zhang3) and applies 一/不 tone sandhi; espeak-ng applies the
third-tone sandhi itself. Punctuation becomes the ASCII marks espeak-ng pauses at.
"""

import re
from typing import Any

from audio.textnorm.lexicon import PINYIN_BLOCK

_FULL_STOP = set("。！？!?；;")
_COMMA = set("，、,：:")
_HAN = re.compile(r"[\u3400-\u9fff]")


def to_pinyin(spoken: str) -> str:
    """``"各位村民，请注意。"`` → ``"ge4 wei4 cun1 min2, qing3 zhu4 yi4."``"""
    out: list[str] = []
    pos = 0
    for block in PINYIN_BLOCK.finditer(spoken):
        out.extend(_convert(spoken[pos : block.start()]))
        out.extend(block.group(1).split())
        pos = block.end()
    out.extend(_convert(spoken[pos:]))
    return _join(out)


def _convert(text: str) -> list[str]:
    if not text:
        return []
    from pypinyin import Style, lazy_pinyin

    tokens: list[Any] = lazy_pinyin(
        text, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True
    )
    out: list[str] = []
    for token in tokens:
        token = str(token)
        if _HAN.search(token) is None and token.isascii() and token.isalnum():
            out.append(token.lower())
            continue
        out.extend(_marks(token))
    return out


def _marks(chunk: str) -> list[str]:
    """Punctuation and spaces as pause marks; anything else unreadable is dropped."""
    out: list[str] = []
    for ch in chunk:
        if ch in _FULL_STOP:
            out.append(".")
        elif ch in _COMMA or ch.isspace():
            out.append(",")
        elif ch.isascii() and ch.isalnum():
            out.append(ch.lower())
    return out


def _join(tokens: list[str]) -> str:
    text = ""
    for token in tokens:
        if token in (".", ","):
            if text.endswith((".", ",")):
                if token == ".":
                    text = text[:-1] + "."
                continue
            if text:
                text += token
        else:
            text += (" " if text else "") + token
    return text
