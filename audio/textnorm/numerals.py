"""Reading numbers aloud: by value (with 万/亿), digit by digit (with 幺), and 两 for two."""

import re

DIGITS = "零一二三四五六七八九"
# Announcers say 幺 for 1 in phone numbers, hotlines and codes so it is not heard as 七.
CODE_DIGITS = "零幺二三四五六七八九"
# Above this many digits a number is a code, not a quantity.
MAX_VALUE_DIGITS = 16

# Measure words after which a lone 2 is read 两 (两个, 两天, 两公里), not 二.
LIANG_BEFORE = (
    "个",
    "位",
    "名",
    "人",
    "户",
    "天",
    "次",
    "只",
    "头",
    "条",
    "件",
    "辆",
    "周",
    "年",
    "小时",
    "分钟",
    "公里",
    "公斤",
    "千克",
    "亩",
    "吨",
    "斤",
    "米",
    "元",
    "块",
    "台",
    "本",
    "张",
    "趟",
    "遍",
    "岁",
    "倍",
    "项",
    "所",
    "家",
    "座",
    "间",
    "批",
    "套",
    "份",
    "万",
    "千",
    "百",
    "亿",
)

# 二 leading a 千/万/亿 group is said 两: 两千, 两万, 十万零两千 (but 十二万 stays).
_LIANG_GROUP = re.compile(r"(?:(?<=^)|(?<=[零万亿]))二(?=[千万亿])")


def read_digits(digits: str, yao: bool = True) -> str:
    """Digit by digit: ``"110"`` → ``"幺幺零"``; letters X/x (ID cards) → ``叉``."""
    table = CODE_DIGITS if yao else DIGITS
    out = []
    for ch in digits:
        if ch.isdigit():
            out.append(table[int(ch)])
        elif ch in "Xx":
            out.append("叉")
    return "".join(out)


def read_year(digits: str) -> str:
    """Years are read digit by digit with 零, never 幺: 2022 → 二零二二."""
    return read_digits(digits, yao=False)


def read_integer(digits: str) -> str:
    """An unsigned integer by value: 1250000 → 一百二十五万, 20000 → 两万.

    Leading zeros or more than ``MAX_VALUE_DIGITS`` digits make it a code, read digit by digit.
    """
    digits = digits.replace(",", "")
    if (len(digits) > 1 and digits.startswith("0")) or len(digits) > MAX_VALUE_DIGITS:
        return read_digits(digits, yao=False)
    return _LIANG_GROUP.sub("两", _by_value(digits))


def _by_value(digits: str) -> str:
    """An integer read by value with cn2an (imported on first use: speech workers never
    need it). cn2an drops the 零 of an empty 万 group under 亿 (200004792 → 二亿四千…);
    announcers say it, so that case is joined here from cn2an's two halves."""
    import cn2an

    digits = digits.lstrip("0") or "0"
    low = digits[-8:]
    if len(digits) > 8 and low[:4] == "0000" and low.strip("0"):
        return f"{_by_value(digits[:-8])}亿零{cn2an.an2cn(low.lstrip('0'), 'low')}"
    return str(cn2an.an2cn(digits, "low"))


def read_number(number: str, following: str = "", ordinal: bool = False) -> str:
    """A number as written (``"3.5"``, ``"1,250,000"``, ``"-2"``) by value.

    ``following`` is the text right after the number: a lone 2 before a measure word is
    said 两 unless the number is an ordinal (第2个 → 第二个).
    """
    sign = ""
    if number.startswith(("-", "−")):
        sign, number = "负", number[1:]
    number = number.replace(",", "")
    whole, _, fraction = number.partition(".")
    spoken = read_integer(whole) if whole else "零"
    if fraction:
        spoken += "点" + read_digits(fraction, yao=False)
    elif spoken == "二" and not ordinal and following.startswith(LIANG_BEFORE):
        spoken = "两"
    return sign + spoken
