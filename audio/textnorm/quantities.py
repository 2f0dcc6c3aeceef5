"""Numbers that are quantities: dates, times, ranges, percentages, fractions, units."""

import re
from collections.abc import Callable

from audio.textnorm.numerals import read_integer, read_number, read_year

# Latin and symbol units after a number, longest first when matched. Spoken as written by
# Chinese announcers (kg → 公斤, km/h → 公里每小时).
UNITS: dict[str, str] = {
    "km/h": "公里每小时",
    "m/s": "米每秒",
    "μg/m³": "微克每立方米",
    "ug/m³": "微克每立方米",
    "μg/m3": "微克每立方米",
    "ug/m3": "微克每立方米",
    "mg/m³": "毫克每立方米",
    "kW·h": "千瓦时",
    "kWh": "千瓦时",
    "km²": "平方公里",
    "m²": "平方米",
    "㎡": "平方米",
    "m³": "立方米",
    "hPa": "百帕",
    "MPa": "兆帕",
    "min": "分钟",
    "km": "公里",
    "KM": "公里",
    "kg": "公斤",
    "KG": "公斤",
    "Kg": "公斤",
    "mm": "毫米",
    "cm": "厘米",
    "ml": "毫升",
    "mL": "毫升",
    "mg": "毫克",
    "kW": "千瓦",
    "kw": "千瓦",
    "kV": "千伏",
    "℃": "摄氏度",
    "°C": "摄氏度",
    "°": "度",
    "m": "米",
    "g": "克",
    "t": "吨",
    "L": "升",
    "h": "小时",
    "s": "秒",
    "W": "瓦",
    "V": "伏",
}
TEMPERATURE_UNITS = frozenset({"℃", "°C", "°", "摄氏度", "度"})

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
# A minus sign only where it cannot be a hyphen (not right after a digit or a letter).
_SIGNED = r"(?:(?<![0-9A-Za-z.])[-−])?" + _NUM
_UNIT = "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
_LATIN_UNIT = rf"(?:{_UNIT})(?![A-Za-z])"
_SEP = r"[-–—~～]"


def _say(number: str, unit: str, following: str, ordinal: bool = False) -> str:
    """A number with its (optional) unit: ``-5`` ``℃`` → 零下五摄氏度."""
    if unit in ("%", "％"):
        spoken = read_number(number.lstrip("-−"))
        return ("负" if number[0] in "-−" else "") + "百分之" + spoken
    if unit == "‰":
        return "千分之" + read_number(number)
    spoken_unit = UNITS.get(unit, unit)
    after = spoken_unit + following if spoken_unit else following
    if number[0] in "-−" and (unit in TEMPERATURE_UNITS or (not unit and following[:1] == "度")):
        return "零下" + read_number(number[1:], after) + spoken_unit
    return read_number(number, after, ordinal) + spoken_unit


# -- dates and times ----------------------------------------------------------------------


def _iso_date(m: re.Match[str]) -> str:
    return f"{m['y']}年{int(m['m'])}月{int(m['d'])}日"


def _year(m: re.Match[str]) -> str:
    return read_year(m["y"]) + "年"


def _year_range(m: re.Match[str]) -> str:
    return f"{read_year(m['a'])}到{read_year(m['b'])}年"


def _clock(hour: str, minute: str, second: str | None) -> str:
    """7:00 → 七点, 8:30 → 八点三十分, 14:05 → 十四点零五分, 2:00 → 两点."""
    h, mi = int(hour), int(minute)
    spoken = ("两" if h == 2 else read_integer(str(h))) + "点"
    if mi or second:
        spoken += ("零" if 0 < mi < 10 else "") + read_integer(str(mi)) + "分"
    if second:
        spoken += read_integer(str(int(second))) + "秒"
    return spoken


_TIME = r"(?P<{0}h>[01]?\d|2[0-4])[:：](?P<{0}m>[0-5]\d)(?:[:：](?P<{0}s>[0-5]\d))?"


def _time(m: re.Match[str]) -> str:
    return _clock(m["ah"], m["am"], m["as"])


def _time_range(m: re.Match[str]) -> str:
    sep = m["sep"] if m["sep"] in ("至", "到") else "到"
    return _clock(m["ah"], m["am"], m["as"]) + sep + _clock(m["bh"], m["bm"], m["bs"])


# -- quantities ---------------------------------------------------------------------------


def _range(m: re.Match[str]) -> str:
    ua, ub = m["ua"] or "", m["ub"] or ""
    if ub in ("%", "％") or ua in ("%", "％"):
        return _say(m["a"], "%", "") + "到" + _say(m["b"], "%", m["after"])
    if ub in TEMPERATURE_UNITS or ua in TEMPERATURE_UNITS:
        temp = ub or ua
        left = _say(m["a"], ua if ua else "", "")
        if m["a"][0] in "-−":
            left = "零下" + read_number(m["a"][1:])
        return left + "到" + _say(m["b"], temp, m["after"])
    left_following = "" if ua else (UNITS.get(ub, ub) + m["after"])
    return _say(m["a"], ua, left_following) + "到" + _say(m["b"], ub, m["after"])


def _fraction(m: re.Match[str]) -> str:
    return f"{read_integer(m['d'])}分之{read_integer(m['n'])}"


def _quantity(m: re.Match[str]) -> str:
    ordinal = "第" if m["di"] else ""
    return ordinal + _say(m["n"], m["u"] or "", m["after"], ordinal=bool(ordinal))


_AFTER = r"(?=(?P<after>\S{0,2}))"

RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    # ISO dates 2026-11-22, 2026/11/22, 2026.11.22 → 2026年11月22日 (then read below).
    (
        re.compile(
            r"(?<![\d.])(?P<y>(?:19|20)\d\d)[-/.](?P<m>0?[1-9]|1[0-2])[-/.]"
            r"(?P<d>0?[1-9]|[12]\d|3[01])(?:日|号)?(?![\d.])"
        ),
        _iso_date,
    ),
    (re.compile(rf"(?<!\d)(?P<a>\d{{4}})\s*(?:{_SEP}|至|到)\s*(?P<b>\d{{4}})\s*年"), _year_range),
    (re.compile(r"(?<![\d.])(?P<y>\d{4})\s*年"), _year),
    (
        re.compile(
            r"(?<![\d.])"
            + _TIME.format("a")
            + r"\s*(?P<sep>"
            + _SEP
            + r"|至|到)\s*"
            + _TIME.format("b")
            + r"(?!\d)"
        ),
        _time_range,
    ),
    (re.compile(r"(?<![\d.])" + _TIME.format("a") + r"(?!\d)"), _time),
    # Ranges: 4-5级, 25～30℃, -5~3℃, 5%-10%, 3月5日-7日.
    (
        re.compile(
            rf"(?P<a>{_SIGNED})\s*(?P<ua>{_LATIN_UNIT}|[%％]|[\u4e00-\u9fff])?\s*{_SEP}\s*"
            rf"(?P<b>{_SIGNED})\s*(?P<ub>{_LATIN_UNIT}|[%％])?{_AFTER}"
        ),
        _range,
    ),
    (re.compile(r"(?<![\d/.])(?P<n>\d+)\s*/\s*(?P<d>\d+)(?![\d/.])"), _fraction),
    (
        re.compile(rf"(?P<di>第\s*)?(?P<n>{_SIGNED})\s*(?P<u>{_LATIN_UNIT}|[%％‰])?{_AFTER}"),
        _quantity,
    ),
)


def apply_quantity_rules(text: str) -> str:
    for pattern, spoken in RULES:
        text = pattern.sub(spoken, text)
    return text
