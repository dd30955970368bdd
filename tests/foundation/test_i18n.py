"""The message catalogue: every key in both languages, placeholders alike, local times."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from gridcrew.i18n import LANGUAGES, catalogue, format_local, language, t

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_catalogues_have_the_same_keys_and_placeholders():
    zh, en = catalogue("zh-CN"), catalogue("en")
    assert zh.keys() == en.keys(), zh.keys() ^ en.keys()
    for key in zh:
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
        assert zh[key].strip() and en[key].strip(), key


def test_chinese_is_the_default_and_english_a_switch():
    assert language(None) == "zh-CN" and language("fr") == "zh-CN"
    assert language("en-US") == "en" and set(LANGUAGES) == {"zh-CN", "en"}
    assert t("common.minutes", "zh", n=5) == "5 分钟"
    assert t("common.minutes", "en", n=5) == "5 min"


def test_local_times_carry_a_date_when_not_today():
    now = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
    assert format_local(datetime(2026, 12, 8, 1, 5, tzinfo=UTC), SHANGHAI, "zh-CN", now) == "09:05"
    # 23:30 UTC on the 7th is already the 8th in Shanghai
    assert format_local(datetime(2026, 12, 7, 23, 30, tzinfo=UTC), SHANGHAI, "en", now) == "07:30"
    assert format_local(datetime(2026, 12, 7, 1, 5, tzinfo=UTC), SHANGHAI, "zh-CN", now) == (
        "12月7日 09:05"
    )
    assert (
        format_local(datetime(2026, 12, 7, 1, 5, tzinfo=UTC), SHANGHAI, "en", now) == "Dec 7 09:05"
    )
    assert format_local(datetime(2025, 1, 2, 1, 5, tzinfo=UTC), SHANGHAI, "en", now) == (
        "Jan 2, 2025 09:05"
    )
