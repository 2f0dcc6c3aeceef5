"""The audit log's canonical encoding and hash: pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from broadcast.audit import GENESIS, canonical, entry_hash
from web.access import is_public, permission_for


def test_canonical_is_stable_and_zone_independent() -> None:
    at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    shanghai = at.astimezone(timezone(timedelta(hours=8)))
    a = canonical({"b": [1, 2], "a": {"at": at, "day": date(2026, 12, 2)}, "名": "东村"})
    b = canonical({"a": {"day": date(2026, 12, 2), "at": shanghai}, "名": "东村", "b": [1, 2]})
    assert a == b
    at_text = "2026-12-02T08:00:00.000000+00:00"
    assert a == '{"a":{"at":"' + at_text + '","day":"2026-12-02"},"b":[1,2],"名":"东村"}'


def test_every_field_is_in_the_hash() -> None:
    at = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
    base = (7, at, "editor", "update", "notices", "3", '{"after":{}}', GENESIS)
    digest = entry_hash(*base)
    assert len(digest) == 64
    for i, other in enumerate(
        (8, at + timedelta(microseconds=1), "admin", "insert", "schedules", "4", "{}", "1" * 64)
    ):
        changed = list(base)
        changed[i] = other
        assert entry_hash(*changed) != digest, f"field {i} is not covered"


def test_access_table_fails_closed_for_unknown_routes() -> None:
    assert is_public("auth.login") and is_public("public.village") and is_public(None)
    assert not is_public("notices.index")
    assert permission_for("notices.index", "GET") == "read"
    assert permission_for("notices.play", "POST") == "write"
    assert permission_for("review.approve", "POST") == "review"
    assert permission_for("api.send_emergency", "POST") == "emergency"
    assert permission_for("somebody_new.thing", "GET") == "read"
    assert permission_for("somebody_new.thing", "POST") == "accounts"  # admins only
