"""Written notice text → what an announcer says, in Chinese characters, then pinyin.

``normalize`` is a pure function: rules for codes (phones, hotlines, IDs, document numbers),
then quantities (dates, times, ranges, percentages, fractions, units, plain numbers), then
symbols and Latin letters, then pauses in long stretches. The staff lexicon is applied first;
pinyin blocks in braces (``{huan2 tian2}``) pass through untouched.
"""

from audio.textnorm.codes import apply_code_rules
from audio.textnorm.lexicon import PINYIN_BLOCK, Lexicon, LexiconEntry, check_entry
from audio.textnorm.pauses import break_long_runs
from audio.textnorm.pinyin import to_pinyin
from audio.textnorm.quantities import apply_quantity_rules
from audio.textnorm.symbols import after_numbers, before_numbers, half_width

# Bump when the rules change what is said, so cached audio is rendered again.
NORMALIZER_VERSION = 1

__all__ = [
    "NORMALIZER_VERSION",
    "Lexicon",
    "LexiconEntry",
    "check_entry",
    "normalize",
    "to_pinyin",
]


def normalize(text: str, lexicon: Lexicon | None = None) -> str:
    """The spoken form of ``text`` in Chinese characters (and any lexicon pinyin blocks)."""
    if lexicon:
        text = lexicon.apply(text)
    out: list[str] = []
    pos = 0
    for block in PINYIN_BLOCK.finditer(text):
        out.append(_read(text[pos : block.start()]))
        out.append(block.group())
        pos = block.end()
    out.append(_read(text[pos:]))
    return "".join(out)


def _read(text: str) -> str:
    if not text:
        return text
    text = half_width(text)
    text = before_numbers(text)
    text = apply_code_rules(text)
    text = apply_quantity_rules(text)
    text = after_numbers(text)
    return break_long_runs(text)
