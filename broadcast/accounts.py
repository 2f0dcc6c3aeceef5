"""Panel accounts. There is no default account: the first admin is created by ``cunxiang init``."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from broadcast.errors import Conflict, ValidationFailed
from broadcast.models import User

ROLES = ("admin", "editor", "reviewer", "operator")
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    role: str
    active: bool


def generate_password() -> str:
    return secrets.token_urlsafe(12)


def add_user(s: Session, username: str, password: str, role: str, now: datetime) -> UserView:
    if not USERNAME.match(username):
        raise ValidationFailed("用户名须为 2–64 位字母、数字或 _.-", "username")
    if len(password) < MIN_PASSWORD:
        raise ValidationFailed(f"密码至少 {MIN_PASSWORD} 位", "password")
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
    return UserView(user.id, user.username, user.role, user.active)


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
    return UserView(user.id, user.username, user.role, user.active)


def get_user(s: Session, user_id: int) -> UserView | None:
    user = s.get(User, user_id)
    if user is None or not user.active:
        return None
    return UserView(user.id, user.username, user.role, user.active)


def count_users(s: Session) -> int:
    return s.scalar(select(func.count()).select_from(User)) or 0
