"""Numbers that are codes, not quantities: phones, hotlines, IDs, document numbers.

Each rule rewrites written digits into spoken Chinese so the value rules never see them.
Digit groups are separated by a space, which the pinyin stage turns into a short pause.
"""

import re
from collections.abc import Callable

from audio.textnorm.numerals import read_digits, read_integer, read_year

Rule = tuple[re.Pattern[str], Callable[[re.Match[str]], str]]

# Service numbers read digit by digit (幺幺零) unless followed by a unit (110元).
HOTLINES = frozenset(
    [
        "110",
        "112",
        "114",
        "119",
        "120",
        "122",
        "12110",
        "12121",
        "12306",
        "12315",
        "12319",
        "12320",
        "12333",
        "12338",
        "12345",
        "12348",
        "12350",
        "12356",
        "12358",
        "12365",
        "12366",
        "12369",
        "12378",
        "12379",
        "12380",
        "12388",
        "12393",
        "12395",
        "95598",
        "96110",
        "10000",
        "10010",
        "10086",
    ]
)
_AFTER_QUANTITY = tuple(
    [
        "元",
        "万",
        "亿",
        "个",
        "人",
        "户",
        "名",
        "亩",
        "米",
        "公里",
        "公斤",
        "吨",
        "斤",
        "次",
        "天",
        "年",
        "月",
        "日",
        "号",
        "岁",
        "分",
        "秒",
        "小时",
        "平方",
        "立方",
        "%",
        "％",
        "多",
        "余",
        "家",
        "所",
        "条",
        "件",
        "辆",
        "头",
        "只",
        "台",
        "度",
        "级",
        "期",
        "届",
        "倍",
        "项",
        "批",
        "块",
        "千",
        "百",
    ]
)
_CODE_WORDS = (
    "电话|热线|手机|号码|拨打|致电|联系方式|咨询|举报|报警|编号|代码|卡号|账号|帐号|"
    "验证码|邮编|邮政编码|工号|批号|单号|订单号|身份证号码|身份证号|身份证|QQ|微信"
)


def _groups(*parts: str) -> str:
    return " ".join(read_digits(p) for p in parts if p)


def _mobile(m: re.Match[str]) -> str:
    return _groups(m["a"], m["b"], m["c"])


def _landline(m: re.Match[str]) -> str:
    number = m["num"]
    split = 3 if len(number) == 7 else 4
    return _groups(m["area"], number[:split], number[split:])


def _service(m: re.Match[str]) -> str:
    return _groups(m["a"], m["b"], m["c"])


def _id_card(m: re.Match[str]) -> str:
    return _groups(m["a"], m["b"], m["c"])


def _document(m: re.Match[str]) -> str:
    ordinal = "第" if m["di"] else ""
    return f"{m['org']}{read_year(m['year'])} {ordinal}{read_integer(m['num'])}号"


def _is_quantity(after: str) -> bool:
    return after.lstrip().startswith(_AFTER_QUANTITY)


def _hotline(m: re.Match[str]) -> str:
    number = m["num"]
    if number not in HOTLINES or _is_quantity(m["after"]):
        return number
    return read_digits(number)


def _after_code_word(m: re.Match[str]) -> str:
    code = m["code"]
    if _is_quantity(m["after"]):
        return m.group()
    spoken = " ".join(read_digits(part) for part in re.split(r"[-\s]+", code) if part)
    return m["lead"] + spoken


_NOT_DIGIT_BEFORE = r"(?<![\d.,])"
_NOT_DIGIT_AFTER = r"(?![\d.,]\d|\d)"

RULES: tuple[Rule, ...] = (
    # 宁政公开办发〔2022〕13号
    (
        re.compile(
            r"(?P<org>[\u4e00-\u9fff]*)[〔\[［【(（]\s*(?P<year>\d{4})\s*[〕\]］】)）]"
            r"\s*(?P<di>第?)\s*(?P<num>\d+)\s*号"
        ),
        _document,
    ),
    # Resident ID card: 6 + 8 + 4 (the last may be X).
    (
        re.compile(_NOT_DIGIT_BEFORE + r"(?P<a>\d{6})(?P<b>\d{8})(?P<c>\d{3}[\dXx])(?![\dA-Za-z])"),
        _id_card,
    ),
    # Mobile: 138 1234 5678, optionally +86 and separators.
    (
        re.compile(
            _NOT_DIGIT_BEFORE
            + r"(?:\+?86[-\s]?)?(?P<a>1[3-9]\d)[-\s]?(?P<b>\d{4})[-\s]?(?P<c>\d{4})"
            + _NOT_DIGIT_AFTER
        ),
        _mobile,
    ),
    # 400/800 service numbers: 400-123-4567.
    (
        re.compile(
            _NOT_DIGIT_BEFORE
            + r"(?P<a>[48]00)[-\s]?(?P<b>\d{3})[-\s]?(?P<c>\d{4})"
            + _NOT_DIGIT_AFTER
        ),
        _service,
    ),
    # Landline with area code: 0951-5012345, (010)12345678.
    (
        re.compile(
            _NOT_DIGIT_BEFORE
            + r"[(（]?(?P<area>0\d{2,3})[)）]?[-—\s]?(?P<num>\d{7,8})"
            + _NOT_DIGIT_AFTER
        ),
        _landline,
    ),
    # Anything with digits after a word like 电话/编号/验证码: 咨询电话：5012345.
    (
        re.compile(
            rf"(?P<lead>(?:{_CODE_WORDS})(?:[是为]|[:：\s])*)"
            r"(?P<code>\d{3,}(?:[-\s]\d{2,})*)" + _NOT_DIGIT_AFTER + r"(?=(?P<after>\S{0,2}))"
        ),
        _after_code_word,
    ),
    # Known hotlines anywhere: 拨打110, 12345热线 (but 110元 is a price).
    (
        re.compile(r"(?<![\d.,第])(?P<num>\d{3,5})(?![\d.,]\d|\d)(?=(?P<after>\s*\S{0,2}))"),
        _hotline,
    ),
)


def apply_code_rules(text: str) -> str:
    for pattern, spoken in RULES:
        text = pattern.sub(spoken, text)
    return text
