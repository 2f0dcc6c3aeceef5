"""The Mandarin normaliser: written notice text → what an announcer says."""

import tomllib
from pathlib import Path

import pytest

from audio.textnorm import normalize, to_pinyin
from audio.textnorm.numerals import read_digits, read_integer, read_number
from audio.textnorm.pauses import MAX_RUN, break_long_runs

CORPUS = tomllib.loads(
    (Path(__file__).parent.parent / "data" / "speech" / "notices.toml").read_text("utf-8")
)["notice"]


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_notice_corpus_reads_like_an_announcer(case: dict[str, str]) -> None:
    assert normalize(case["written"]) == case["spoken"]


@pytest.mark.parametrize("case", CORPUS, ids=[c["name"] for c in CORPUS])
def test_spoken_corpus_has_no_digits_or_latin_left(case: dict[str, str]) -> None:
    spoken = normalize(case["written"])
    assert not any(ch.isascii() and ch.isalnum() for ch in spoken)
    assert normalize(spoken) == spoken  # reading the spoken form again changes nothing


def check(pairs: list[tuple[str, str]]) -> None:
    for written, spoken in pairs:
        assert normalize(written) == spoken, written


def test_dates_and_years() -> None:
    check(
        [
            ("2022年3月5日", "二零二二年三月五日"),
            ("2026-11-22", "二零二六年十一月二十二日"),
            ("2026/1/2召开", "二零二六年一月二日召开"),
            ("2024.10.01", "二零二四年十月一日"),
            ("12月22日", "十二月二十二日"),
            ("2022-2023年度", "二零二二到二零二三年度"),
            ("3月5日-7日", "三月五日到七日"),
            ("2年", "两年"),
            ("10年", "十年"),
        ]
    )


def test_times_ranges_and_durations() -> None:
    check(
        [
            ("7:00-8:30", "七点到八点三十分"),
            ("上午8：00至11：30", "上午八点至十一点三十分"),
            ("14:05", "十四点零五分"),
            ("2:00", "两点"),
            ("20:00:30", "二十点零分三十秒"),
            ("约1.5小时", "约一点五小时"),
            ("2小时", "两小时"),
            ("30分钟", "三十分钟"),
            ("24h值班", "二十四小时值班"),
        ]
    )


def test_phones_hotlines_and_codes_digit_by_digit_with_yao() -> None:
    check(
        [
            ("13812345678", "幺三八 幺二三四 五六七八"),
            ("+86 139-9512-3456", "幺三九 九五幺二 三四五六"),
            ("0951-5012345", "零九五幺 五零幺 二三四五"),
            ("(010)12345678", "零幺零 幺二三四 五六七八"),
            ("400-123-4567", "四零零 幺二三 四五六七"),
            ("拨打110报警", "拨打幺幺零报警"),
            ("12345热线", "幺二三四五热线"),
            ("火警119，急救120", "火警幺幺九，急救幺二零"),
            ("咨询电话：5012345", "咨询电话：五零幺二三四五"),
            ("验证码123456", "验证码幺二三四五六"),
            ("身份证号11010119900307751X", "身份证号幺幺零幺零幺 幺九九零零三零七 七五幺叉"),
        ]
    )


def test_hotline_numbers_that_are_amounts_are_read_by_value() -> None:
    check([("110元", "一百一十元"), ("第120名", "第一百二十名"), ("手机1000台", "手机一千台")])


def test_numbers_by_value() -> None:
    check(
        [
            ("1,250,000元", "一百二十五万元"),
            ("3.5万元", "三点五万元"),
            ("20000元", "两万元"),
            ("12000", "一万两千"),
            ("1005户", "一千零五户"),
            ("0.05", "零点零五"),
            ("1.2亿", "一点二亿"),
            ("2个人", "两个人"),
            ("第2个", "第二个"),
            ("第3条", "第三条"),
            ("2级", "二级"),
            ("007号", "零零七号"),
        ]
    )


def test_percentages_fractions_and_ranges() -> None:
    check(
        [
            ("增长3.5%", "增长百分之三点五"),
            ("下降-2%", "下降负百分之二"),
            ("5%-10%", "百分之五到百分之十"),
            ("50%～100%", "百分之五十到百分之一百"),
            ("5‰", "千分之五"),
            ("1/3", "三分之一"),
            ("2/3的农户", "三分之二的农户"),
            ("4-5级", "四到五级"),
            ("2-3个", "两到三个"),
            ("5万-10万元", "五万到十万元"),
        ]
    )


def test_temperatures_and_units() -> None:
    check(
        [
            ("25～30℃", "二十五到三十摄氏度"),
            ("-5℃", "零下五摄氏度"),
            ("气温-5度", "气温零下五度"),
            ("-5~3℃", "零下五到三摄氏度"),
            ("-5～-3°C", "零下五到零下三摄氏度"),
            ("零下5℃", "零下五摄氏度"),
            ("50mm", "五十毫米"),
            ("160cm", "一百六十厘米"),
            ("60km/h", "六十公里每小时"),
            ("20kg", "二十公斤"),
            ("3km", "三公里"),
            ("100㎡", "一百平方米"),
            ("35μg/m³", "三十五微克每立方米"),
            ("1013hPa", "一千零一十三百帕"),
            ("300元/亩", "三百元每亩"),
        ]
    )


def test_document_numbers() -> None:
    check(
        [
            ("宁政公开办发〔2022〕13号", "宁政公开办发二零二二 十三号"),
            ("国发[2016]第5号", "国发二零一六 第五号"),
        ]
    )


def test_width_letters_and_symbols() -> None:
    check(
        [
            ("２０２２年", "二零二二年"),
            ("ＰＭ２．５", "批艾姆二点五"),
            ("PM2.5", "批艾姆二点五"),
            ("B超", "必超"),
            ("CT检查", "西提检查"),
            ("WiFi", "歪法艾"),
            ("3#楼", "三号楼"),
            ("周一～周五", "周一到周五"),
            ("银川-石嘴山", "银川到石嘴山"),
            ("党员&群众", "党员和群众"),
            ("注意——安全", "注意，安全"),
            ("COVID-19", "西欧维艾迪十九"),
        ]
    )


def test_long_runs_get_a_pause_at_a_natural_place() -> None:
    run = "请各家各户提前清理房前屋后的柴草和杂物并且不要在田间地头焚烧秸秆以免引发火灾"
    assert len(run) > MAX_RUN
    broken = break_long_runs(run)
    assert broken.replace("，", "") == run
    assert all(len(part) <= MAX_RUN for part in broken.split("，"))
    assert "，并且" in broken or "，不要" in broken or "，以免" in broken


def test_short_runs_are_left_alone() -> None:
    text = "各位村民请注意，明天上午九点在村委会召开会议。"
    assert break_long_runs(text) == text


def test_numeral_helpers() -> None:
    assert read_digits("110") == "幺幺零"
    assert read_digits("110", yao=False) == "一一零"
    assert read_integer("100000000") == "一亿"
    assert read_integer("1000010") == "一百万零一十"
    assert read_integer("200000") == "二十万"
    assert read_integer("2000") == "两千"
    assert read_number("-2") == "负二"
    assert read_number("2", "个") == "两"
    assert read_number("2", "个", ordinal=True) == "二"


def test_plain_chinese_is_unchanged() -> None:
    text = "各位村民请注意，明天上午九点在村委会召开会议。"
    assert normalize(text) == text


def test_pinyin_uses_phrase_readings_for_polyphones() -> None:
    assert to_pinyin("银行") == "yin2 hang2"
    assert to_pinyin("重新") == "chong2 xin1"
    assert to_pinyin("村长") == "cun1 zhang3"
    assert to_pinyin("便宜") == "pian2 yi5"
    assert to_pinyin("音乐") == "yin1 yue4"


def test_pinyin_marks_pauses_and_tone_sandhi() -> None:
    assert to_pinyin("各位村民，请注意。") == "ge4 wei4 cun1 min2, qing3 zhu4 yi4."
    assert to_pinyin("幺三八 幺二三四") == "yao1 san1 ba1, yao1 er4 san1 si4"
    assert to_pinyin("一定不要") == "yi2 ding4 bu2 yao4"
    assert to_pinyin("《通知》“注意”") == "tong1 zhi1 zhu4 yi4"
    assert to_pinyin("绿色") == "lv4 se4"


def test_integers_with_empty_groups_keep_their_zero() -> None:
    assert read_integer("200004792") == "两亿零四千七百九十二"
    assert read_integer("1000010000") == "十亿零一万"
    assert read_integer("100010") == "十万零一十"
    assert read_integer("1337193046610") == "一万三千三百七十一亿九千三百零四万六千六百一十"
    assert read_integer("10") == "十"
    assert read_integer("0") == "零"
