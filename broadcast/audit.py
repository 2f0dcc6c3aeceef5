"""The audit log: every change made by a person, append-only and hash-chained.

A session listener (``install``) records the inserts, updates and deletes of every mapped
table except machine telemetry (the command outbox, receipts, loudspeakers' online state
...), so tables added later are audited without further work. Each entry stores who, when
(from the injected clock, never the wall clock), what (table and row) and the before/after
values, as canonical JSON, with the previous entry's hash and its own hash over all of it.
Altering, deleting or re-ordering an entry breaks the chain; ``verify`` finds the first bad
entry. Deleting the newest entries leaves a shorter chain that is still consistent: compare
``head`` with a copy kept elsewhere (``cunxiang audit verify`` prints it) to catch that.

The Services facade puts the actor and the clock into ``Session.info`` (``session_info``);
the web edge and the CLI name the actor with ``acting_as``.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, event, func, insert, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import get_history
from sqlalchemy.orm.base import PASSIVE_NO_INITIALIZE

from broadcast.models import AuditEntry

logger = logging.getLogger(__name__)

GENESIS = "0" * 64
SYSTEM = "system"
# Keys of Session.info.
INFO_ACTOR = "audit.actor"
INFO_CLOCK = "audit.clock"
# pg_advisory_xact_lock key that serialises appends on PostgreSQL ("cxaudit").
PG_LOCK_KEY = 0x6378617564697400

# Machine telemetry and the log itself: never audited.
SKIP_TABLES = frozenset(
    {"audit_log", "commands", "events", "speaker_status_changes", "alembic_version"}
)
# Columns the machine keeps up to date; a change to only these is not a person's change.
SKIP_COLUMNS: dict[str, frozenset[str]] = {
    "broadcasts": frozenset({"state"}),
    "loudspeakers": frozenset({"online", "last_seen_at", "state", "last_seq"}),
    "users": frozenset({"last_login_at"}),
}
# Rows the scheduler creates by itself (occurrences): audited only when a person makes them.
MACHINE_INSERTS = frozenset({"broadcasts"})
# Recorded as changed, never with their value.
SECRET_COLUMNS = frozenset({"password_hash", "mqtt_password_hash"})
MASK = "***"

_actor: ContextVar[str | None] = ContextVar("cunxiang_audit_actor", default=None)


def current_actor() -> str | None:
    """The person (username) the current request or command acts for, if any."""
    return _actor.get()


@contextmanager
def acting_as(actor: str | None) -> Iterator[None]:
    """Attribute the changes made inside the block to ``actor``."""
    token = _actor.set(actor)
    try:
        yield
    finally:
        _actor.reset(token)


def set_actor(actor: str | None) -> None:
    """Name the actor for the rest of this context (a request; reset by the next one)."""
    _actor.set(actor)


def session_info(actor: str | None, clock: Callable[[], datetime]) -> dict[str, Any]:
    """What a session needs for its changes to be audited."""
    return {INFO_ACTOR: actor, INFO_CLOCK: clock}


# -- canonical encoding and hashing -------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.isoformat()
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return value


def canonical(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text: the same value always gives the same string."""
    return json.dumps(_plain(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(
    entry_id: int,
    at: datetime,
    actor: str,
    action: str,
    table_name: str,
    row_id: str,
    changes: str,
    prev_hash: str,
) -> str:
    body = canonical(
        {
            "id": entry_id,
            "at": at,
            "actor": actor,
            "action": action,
            "table": table_name,
            "row": row_id,
            "changes": changes,
            "prev": prev_hash,
        }
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


# -- appending ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    action: str  # insert, update, delete, or a verb such as approve, login
    table_name: str
    row_id: str
    changes: dict[str, Any]


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        # Held to the end of the transaction: concurrent appends queue here, so each reads
        # the true last entry. (On SQLite the transaction already holds the write lock.)
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})


def append(conn: Connection, actor: str, at: datetime, changes: list[Change]) -> None:
    """Append entries at the end of the chain (inside the caller's transaction)."""
    if not changes:
        return
    _lock(conn)
    last = conn.execute(
        select(AuditEntry.id, AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1)
    ).first()
    prev_id, prev_hash = (last[0], last[1]) if last is not None else (0, GENESIS)
    rows = []
    for change in changes:
        entry_id = prev_id + 1
        body = canonical(change.changes)
        digest = entry_hash(
            entry_id, at, actor, change.action, change.table_name, change.row_id, body, prev_hash
        )
        rows.append(
            {
                "id": entry_id,
                "at": at,
                "actor": actor[:64],
                "action": change.action,
                "table_name": change.table_name,
                "row_id": change.row_id[:64],
                "changes": body,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        prev_id, prev_hash = entry_id, digest
    conn.execute(insert(AuditEntry), rows)


def record(
    s: Session,
    action: str,
    table_name: str,
    row_id: object,
    details: dict[str, Any],
    actor: str | None = None,
) -> None:
    """Record an act that is more than a row change (approve, reject, login, confirm ...)."""
    clock = s.info.get(INFO_CLOCK)
    if clock is None:
        raise RuntimeError("audit.record needs a session opened by Services (no clock)")
    who = actor or s.info.get(INFO_ACTOR) or current_actor() or SYSTEM
    append(s.connection(), who, clock(), [Change(action, table_name, str(row_id), details)])


# -- the session listener --------------------------------------------------------------------


def _row_id(obj: Any) -> str:
    identity = inspect(obj).identity
    if identity is None:
        return "?"
    return ":".join(str(part) for part in identity)


def _value(table: str, key: str, value: Any) -> Any:
    if key in SECRET_COLUMNS and value is not None:
        return MASK
    return _plain(value)


def _ids(objects: Any) -> list[str]:
    return sorted(_row_id(o) for o in objects or ())


def _snapshot(obj: Any, table: str) -> dict[str, Any]:
    """Every column (and many-to-many collection) of a row, as loaded: never triggers a load."""
    state = inspect(obj)
    out: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        if attr.key in state.dict:
            out[attr.key] = _value(table, attr.key, state.dict[attr.key])
    for rel in state.mapper.relationships:
        if rel.secondary is not None and rel.key in state.dict:
            out[rel.key] = _ids(state.dict[rel.key])
    return out


def _diff(obj: Any, table: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the columns and many-to-many collections that changed."""
    state = inspect(obj)
    skip = SKIP_COLUMNS.get(table, frozenset())
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    # Only attributes set since the last flush carry history: a thousand loudspeakers whose
    # machine-kept columns moved are skipped without looking at every column.
    touched = state.committed_state.keys() - skip
    if not touched:
        return before, after
    for attr in state.mapper.column_attrs:
        if attr.key not in touched:
            continue
        hist = get_history(obj, attr.key, passive=PASSIVE_NO_INITIALIZE)
        if not hist.has_changes() or not hist.added:
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0]
        if old == new:
            continue
        before[attr.key] = _value(table, attr.key, old)
        after[attr.key] = _value(table, attr.key, new)
    for rel in state.mapper.relationships:
        if rel.secondary is None:
            continue
        hist = get_history(obj, rel.key, passive=PASSIVE_NO_INITIALIZE)
        if not hist.has_changes():
            continue
        kept = list(hist.unchanged or ())
        old_ids = _ids([*kept, *(hist.deleted or ())])
        new_ids = _ids([*kept, *(hist.added or ())])
        if old_ids != new_ids:
            before[rel.key], after[rel.key] = old_ids, new_ids
    return before, after


_TABLES: dict[type, str | None] = {}


def _table_of(obj: Any) -> str | None:
    """The table of a mapped object, cached per class (flushes may hold many thousands)."""
    cls = type(obj)
    if cls not in _TABLES:
        table = getattr(inspect(obj).mapper.local_table, "name", None)
        _TABLES[cls] = str(table) if table is not None else None
    return _TABLES[cls]


def changes_of(session: Session, actor: str) -> list[Change]:
    """The audited changes of the objects a flush is writing."""
    found: list[Change] = []
    for obj in session.new:
        table = _table_of(obj)
        if table is None or table in SKIP_TABLES:
            continue
        if table in MACHINE_INSERTS and actor == SYSTEM:
            continue
        found.append(Change("insert", table, _row_id(obj), {"after": _snapshot(obj, table)}))
    for obj in session.dirty:
        table = _table_of(obj)
        if table is None or table in SKIP_TABLES:
            continue
        before, after = _diff(obj, table)
        if after or before:
            found.append(Change("update", table, _row_id(obj), {"before": before, "after": after}))
    for obj in session.deleted:
        table = _table_of(obj)
        if table is None or table in SKIP_TABLES:
            continue
        found.append(Change("delete", table, _row_id(obj), {"before": _snapshot(obj, table)}))
    return found


def _after_flush(session: Session, _context: Any) -> None:
    actor = session.info.get(INFO_ACTOR) or current_actor() or SYSTEM
    found = changes_of(session, actor)
    if not found:
        return
    clock = session.info.get(INFO_CLOCK)
    if clock is None:
        # Only sessions opened by Services carry the clock; the core never reads the wall
        # clock, so a change made around them cannot be dated and is logged instead.
        logger.warning(
            "unaudited changes (session without a clock): %s",
            ", ".join(f"{c.action} {c.table_name} {c.row_id}" for c in found[:10]),
        )
        return
    append(session.connection(), actor, clock(), found)


_INSTALLED = "cunxiang.audit.installed"


def install(sessions: sessionmaker[Session]) -> None:
    """Audit every session this factory makes (idempotent)."""
    if sessions.kw.get("info", {}).get(_INSTALLED):
        return
    event.listen(sessions, "after_flush", _after_flush)
    info = dict(sessions.kw.get("info") or {})
    info[_INSTALLED] = True
    sessions.configure(info=info)


# -- reading and verifying --------------------------------------------------------------------


@dataclass(frozen=True)
class AuditView:
    id: int
    at: datetime
    actor: str
    action: str
    table_name: str
    row_id: str
    changes: dict[str, Any]
    hash: str


def _view(row: AuditEntry) -> AuditView:
    try:
        changes = json.loads(row.changes)
    except ValueError:
        changes = {"unreadable": row.changes}
    if not isinstance(changes, dict):
        changes = {"value": changes}
    return AuditView(
        row.id, row.at, row.actor, row.action, row.table_name, row.row_id, changes, row.hash
    )


def list_entries(
    s: Session,
    limit: int = 100,
    before_id: int | None = None,
    actor: str | None = None,
    table_name: str | None = None,
    row_id: str | None = None,
) -> list[AuditView]:
    """Newest first; page with ``before_id``."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if table_name:
        query = query.where(AuditEntry.table_name == table_name)
    if row_id:
        query = query.where(AuditEntry.row_id == row_id)
    return [_view(row) for row in s.scalars(query)]


def count(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(AuditEntry)) or 0


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head_id: int  # the last good entry (0: none)
    head_hash: str
    bad_id: int | None = None
    reason: str = ""


def _batches(s: Session, batch: int) -> Iterator[list[AuditEntry]]:
    """The whole log in id order, ``batch`` rows at a time (keyset paging, no open cursor)."""
    last = 0
    while True:
        rows = list(
            s.scalars(
                select(AuditEntry).where(AuditEntry.id > last).order_by(AuditEntry.id).limit(batch)
            )
        )
        if not rows:
            return
        yield rows
        last = rows[-1].id
        s.expunge_all()


def verify(s: Session, batch: int = 2000) -> Verification:
    """Walk the whole chain in id order; stop at the first entry that does not fit."""
    prev_id, prev_hash, checked = 0, GENESIS, 0
    for rows in _batches(s, batch):
        for row in rows:
            expected = prev_id + 1
            if row.id != expected:
                reason = f"entries {expected}–{row.id - 1} are missing"
                return Verification(False, checked, prev_id, prev_hash, row.id, reason)
            if row.prev_hash != prev_hash:
                reason = "its previous hash does not match the entry before it"
                return Verification(False, checked, prev_id, prev_hash, row.id, reason)
            digest = entry_hash(
                row.id,
                row.at,
                row.actor,
                row.action,
                row.table_name,
                row.row_id,
                row.changes,
                row.prev_hash,
            )
            if digest != row.hash:
                reason = "its contents do not match its hash (altered)"
                return Verification(False, checked, prev_id, prev_hash, row.id, reason)
            prev_id, prev_hash, checked = row.id, row.hash, checked + 1
    return Verification(True, checked, prev_id, prev_hash)
