"""Panel accounts and what each role may do. There is no default account: the first admin is
created by ``cunxiang init``. Passwords are hashed with werkzeug's default KDF (scrypt,
n=2**15, r=8, p=1, with a random salt)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from broadcast.errors import Conflict, NotFound, ValidationFailed
from broadcast.models import Area, User, Village

ROLES = ("admin", "editor", "reviewer", "operator")
ROLE_LABELS = {"admin": "管理员", "editor": "编辑", "reviewer": "审核员", "operator": "运维员"}
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD = 10
MAX_FULL_NAME = 100

ALL = frozenset(ROLES)
# What each role may do. Scope (towns, villages) limits it further; see broadcast.scope.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": ALL,  # content, loudspeakers, logs (read-only)
    "write": frozenset({"admin", "editor"}),  # notices, schedules, lexicon, programmes
    "review": frozenset({"admin", "reviewer"}),  # approve / reject
    "emergency": frozenset({"admin", "editor"}),  # send an emergency
    "emergency_view": frozenset({"admin", "editor", "reviewer"}),  # the console
    "confirm": frozenset({"admin", "reviewer"}),  # second person's emergency confirmation
    "speakers": frozenset({"admin", "operator"}),  # loudspeakers, villages' settings
    "stop": ALL,  # stopping a broadcast is a safety action anyone may take
    "accounts": frozenset({"admin"}),
    "audit": frozenset({"admin"}),
}


def allowed(role: str | None, permission: str) -> bool:
    return role is not None and role in PERMISSIONS.get(permission, frozenset())


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    active: bool
    full_name: str = ""
    town_ids: tuple[int, ...] = ()
    village_ids: tuple[int, ...] = ()
    scope_names: tuple[str, ...] = ()  # towns and villages by name; empty = everything
    created_at: datetime | None = None
    last_login_at: datetime | None = None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def scoped(self) -> bool:
        return bool(self.town_ids or self.village_ids)

    def may(self, permission: str) -> bool:
        return self.active and allowed(self.role, permission)


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def add_user(s: Session, username: str, password: str, role: str, now: datetime) -> UserView:
    if not USERNAME.match(username):
        raise ValidationFailed("用户名须为 2–64 位字母、数字或 _.-", "username")
    check_password(password)
    if role not in ROLES:
        raise ValidationFailed(f"未知角色：{role}", "role")
    if s.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"用户 {username} 已存在")
    user = User(
        username=username,
        password_hash=generate_password_hash(password),
        role=role,
        active=True,
        created_at=now,
    )
    s.add(user)
    s.flush()
    return user_view(user)


def user_view(user: User) -> UserView:
    towns = sorted(user.towns, key=lambda a: a.code)
    villages = sorted(user.villages, key=lambda v: v.code)
    return UserView(
        user.id,
        user.username,
        user.role,
        user.active,
        full_name=user.full_name or "",
        town_ids=tuple(a.id for a in towns),
        village_ids=tuple(v.id for v in villages),
        scope_names=tuple([a.name for a in towns] + [v.name for v in villages]),
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"密码至少 {MIN_PASSWORD} 位", "password")
    if len(password) > 200:
        raise ValidationFailed("密码不能超过 200 位", "password")
    return password


def _find(s: Session, user: int | str) -> User:
    row = (
        s.get(User, user)
        if isinstance(user, int)
        else s.scalar(select(User).where(User.username == user))
    )
    if row is None:
        raise NotFound(f"找不到账号：{user}")
    return row


def find_user(s: Session, user: int | str) -> UserView:
    return user_view(_find(s, user))


def list_users(s: Session) -> list[UserView]:
    rows = s.scalars(
        select(User)
        .options(selectinload(User.towns), selectinload(User.villages))
        .order_by(User.username)
    )
    return [user_view(u) for u in rows]


def _other_active_admins(s: Session, user: User) -> int:
    query = select(func.count()).select_from(User)
    query = query.where(User.role == "admin", User.active.is_(True), User.id != user.id)
    return s.scalar(query) or 0


def update_user(
    s: Session,
    user: int | str,
    *,
    role: str | None = None,
    active: bool | None = None,
    full_name: str | None = None,
) -> UserView:
    """Change an account's role, name or whether it may log in. The last active admin
    cannot be demoted or deactivated."""
    row = _find(s, user)
    if role is not None and role not in ROLES:
        raise ValidationFailed(f"未知角色：{role}", "role")
    losing_admin = (
        row.role == "admin"
        and row.active
        and ((role is not None and role != "admin") or active is False)
    )
    if losing_admin and _other_active_admins(s, row) == 0:
        raise ValidationFailed("这是最后一个启用的管理员账号，不能停用或改为其他角色", "role")
    if role is not None:
        row.role = role
    if active is not None:
        row.active = active
    if full_name is not None:
        full_name = full_name.strip()
        if len(full_name) > MAX_FULL_NAME:
            raise ValidationFailed(f"姓名不能超过 {MAX_FULL_NAME} 字", "full_name")
        row.full_name = full_name
    s.flush()
    return user_view(row)


def set_scope(
    s: Session, user: int | str, towns: list[str | int], villages: list[str | int]
) -> UserView:
    """Limit an account to these towns (or counties) and villages; both empty = everything.
    Towns by id or area code, villages by id, code or name."""
    from broadcast.places import find_village

    row = _find(s, user)
    found_towns: dict[int, Area] = {}
    for ref in towns:
        area = (
            s.get(Area, ref)
            if isinstance(ref, int)
            else s.scalar(select(Area).where((Area.code == ref) | (Area.name == ref)))
        )
        if area is None:
            raise NotFound(f"找不到乡镇：{ref}")
        found_towns[area.id] = area
    found_villages: dict[int, Village] = {}
    for ref in villages:
        village = find_village(s, ref)
        found_villages[village.id] = village
    row.towns = list(found_towns.values())
    row.villages = list(found_villages.values())
    s.flush()
    return user_view(row)


def set_password(s: Session, user: int | str, password: str) -> UserView:
    row = _find(s, user)
    row.password_hash = generate_password_hash(check_password(password))
    s.flush()
    return user_view(row)


def change_own_password(s: Session, user_id: int, current: str, new: str) -> UserView:
    row = _find(s, user_id)
    if not check_password_hash(row.password_hash, current):
        raise ValidationFailed("当前密码不正确", "current")
    return set_password(s, user_id, new)


def mark_login(s: Session, user_id: int, now: datetime) -> None:
    row = s.get(User, user_id)
    if row is not None:
        row.last_login_at = now


@cache
def _dummy_hash() -> str:
    return generate_password_hash(secrets.token_hex(16))


def authenticate(s: Session, username: str, password: str) -> UserView | None:
    user = s.scalar(select(User).where(User.username == username))
    if user is None or not user.active:
        # Spend the same time as a real check, so timing does not reveal usernames.
        check_password_hash(_dummy_hash(), password)
        return None
    if not check_password_hash(user.password_hash, password):
        return None
    return user_view(user)


def get_user(s: Session, user_id: int) -> UserView | None:
    user = s.get(User, user_id)
    if user is None or not user.active:
        return None
    return user_view(user)


def user_exists(s: Session, username: str) -> bool:
    return s.scalar(select(User.id).where(User.username == username)) is not None


def role_of(s: Session, username: str | None) -> str | None:
    """The role of an active account, or None for anyone else (the CLI, the scheduler)."""
    if not username:
        return None
    return s.scalar(select(User.role).where(User.username == username, User.active.is_(True)))


def count_users(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(User)) or 0
