"""Width, symbols and Latin letters: what is left after numbers are read."""

import re

# Full-width digits, letters and the symbols that matter for reading numbers.
_HALF_WIDTH = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
        **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
        "％": "%",
        "．": ".",
        "／": "/",
        "－": "-",
        "＋": "+",
        "＃": "#",
    }
)
_WIDE_COLON = re.compile(r"(?<=\d)：(?=\d)")

# How announcers spell Latin letters, written with characters the pinyin voice reads right.
LETTERS = {
    "A": "诶",
    "B": "必",
    "C": "西",
    "D": "迪",
    "E": "伊",
    "F": "艾弗",
    "G": "吉",
    "H": "艾尺",
    "I": "艾",
    "J": "杰",
    "K": "开",
    "L": "艾勒",
    "M": "艾姆",
    "N": "恩",
    "O": "欧",
    "P": "批",
    "Q": "丘",
    "R": "阿尔",
    "S": "艾丝",
    "T": "提",
    "U": "优",
    "V": "维",
    "W": "达布留",
    "X": "艾克斯",
    "Y": "歪",
    "Z": "泽德",
}
# Latin words with a customary Chinese reading.
WORDS = {
    "wifi": "歪法艾",
    "wi-fi": "歪法艾",
    "app": "诶批批",
    "ok": "欧开",
}

_WORD = re.compile(r"[A-Za-z]+(?:-[A-Za-z]+)*")
_MEASURE_AFTER_SLASH = re.compile(
    r"/(?=[人亩户年月天日次斤吨件个头只株台份套块平立公千克米小时周])"
)
_SYMBOLS = (
    (re.compile(r"(?<=\d)\s*#"), "号"),
    (re.compile(r"No\.\s*(?=\d)|№\s*(?=\d)"), "第"),
    (re.compile(r"&"), "和"),
    (re.compile(r"@"), "艾特"),
    (re.compile(r"[~～]"), "到"),
    (re.compile(r"——|—|……|…|\.{3,}"), "，"),
    (re.compile(r"(?<=[\u4e00-\u9fff])\s*-\s*(?=[\u4e00-\u9fff])"), "到"),
    (re.compile(r"[*＊_|\\^`]"), ""),
)


def half_width(text: str) -> str:
    """Full-width digits and letters to ASCII; 14：30 → 14:30."""
    return _WIDE_COLON.sub(":", text.translate(_HALF_WIDTH))


def before_numbers(text: str) -> str:
    """Symbols that change how a following number is read (3#楼, No.5)."""
    for pattern, spoken in _SYMBOLS[:2]:
        text = pattern.sub(spoken, text)
    return text


def after_numbers(text: str) -> str:
    """Left-over symbols and Latin letters, once every number is spoken."""
    text = _MEASURE_AFTER_SLASH.sub("每", text)
    text = text.replace("/", "、")
    for pattern, spoken in _SYMBOLS[2:]:
        text = pattern.sub(spoken, text)
    return _WORD.sub(_spell, text).replace("-", "")


def _spell(m: re.Match[str]) -> str:
    word = m.group()
    known = WORDS.get(word.lower())
    if known is not None:
        return known
    return "".join(LETTERS.get(ch.upper(), "") for ch in word)
