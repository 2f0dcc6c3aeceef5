"""``cunxiang user ...`` (accounts, roles, scope) and ``cunxiang audit ...`` (the audit log)."""

from __future__ import annotations

import argparse
import getpass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broadcast.accounts import UserView
    from broadcast.services import Services

ROLE_CHOICES = ("admin", "editor", "reviewer", "operator")


def cli_actor() -> str:
    """Who the audit log names for changes made from the command line."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "?"
    return f"cli:{who}"[:64]


def _services(args: argparse.Namespace) -> Services:
    from cunxiang.cli import _services as open_services

    return open_services(args)


def _split(value: str | None) -> list[str | int]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def _line(u: UserView) -> str:
    scope = "、".join(u.scope_names) or "全部"
    state = "active" if u.active else "inactive"
    return f"{u.id}\t{u.username}\t{u.role}\t{state}\t{scope}\t{u.full_name}"


def cmd_user_add(args: argparse.Namespace) -> int:
    from broadcast.accounts import generate_password

    svc = _services(args)
    password = args.password or generate_password()
    view = svc.add_user(args.username, password, args.role)
    if args.full_name:
        view = svc.update_user(view.id, full_name=args.full_name)
    if args.towns or args.villages:
        view = svc.set_user_scope(view.id, _split(args.towns), _split(args.villages))
    print(_line(view))
    if args.password is None:
        print(f"password: {password}  (shown once)")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    print("id\tusername\trole\tstate\tscope\tname")
    for view in _services(args).list_users():
        print(_line(view))
    return 0


def cmd_user_set(args: argparse.Namespace) -> int:
    svc = _services(args)
    view = svc.update_user(
        args.username, role=args.role, active=args.active, full_name=args.full_name
    )
    if args.towns is not None or args.villages is not None or args.everywhere:
        towns = [] if args.everywhere else _split(args.towns)
        villages = [] if args.everywhere else _split(args.villages)
        view = svc.set_user_scope(view.id, towns, villages)
    print(_line(view))
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    from broadcast.accounts import generate_password

    password = args.password or generate_password()
    view = _services(args).reset_password(args.username, password)
    print(f"password of {view.username} reset")
    if args.password is None:
        print(f"password: {password}  (shown once)")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    result = _services(args).verify_audit()
    if result.ok:
        print(f"audit log ok: {result.checked} entries; head {result.head_id} {result.head_hash}")
        return 0
    print(
        f"audit log broken at entry {result.bad_id}: {result.reason} "
        f"({result.checked} entries before it are intact)"
    )
    return 1


def cmd_audit_list(args: argparse.Namespace) -> int:
    svc = _services(args)
    zone = svc.settings.zone
    print("id\tat\tactor\taction\ttable\trow")
    for e in svc.audit_entries(limit=args.limit, actor=args.actor, table_name=args.table):
        at = e.at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{e.id}\t{at}\t{e.actor}\t{e.action}\t{e.table_name}\t{e.row_id}")
    return 0


def register(sub: Any, parser_class: type[argparse.ArgumentParser]) -> None:
    """Add the ``user`` and ``audit`` commands to the ``cunxiang`` parser."""
    user = sub.add_parser("user", help="panel accounts: roles and scope").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    ua = user.add_parser("add", help="add an account (a generated password is shown once)")
    ua.add_argument("username")
    ua.add_argument("--role", choices=ROLE_CHOICES, required=True)
    ua.add_argument("--password", help="its password (generated if omitted)")
    ua.add_argument("--full-name", help="the person's name")
    ua.add_argument("--towns", help="scope: comma-separated town codes or names")
    ua.add_argument("--villages", help="scope: comma-separated village ids, codes or names")
    ua.set_defaults(func=cmd_user_add)
    user.add_parser("list", help="list accounts").set_defaults(func=cmd_user_list)
    us = user.add_parser("set", help="change an account's role, name, state or scope")
    us.add_argument("username")
    us.add_argument("--role", choices=ROLE_CHOICES)
    us.add_argument(
        "--active", action=argparse.BooleanOptionalAction, help="may log in (--no-active)"
    )
    us.add_argument("--full-name")
    us.add_argument("--towns", help="scope: comma-separated town codes or names")
    us.add_argument("--villages", help="scope: comma-separated village ids, codes or names")
    us.add_argument("--everywhere", action="store_true", help="clear the scope (all villages)")
    us.set_defaults(func=cmd_user_set)
    up = user.add_parser("passwd", help="reset an account's password (generated if omitted)")
    up.add_argument("username")
    up.add_argument("--password")
    up.set_defaults(func=cmd_user_passwd)

    aud = sub.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", required=True, parser_class=parser_class
    )
    av = aud.add_parser("verify", help="check the hash chain (exit 1 at the first bad entry)")
    av.set_defaults(func=cmd_audit_verify)
    al = aud.add_parser("list", help="the newest entries")
    al.add_argument("--limit", type=int, default=50)
    al.add_argument("--actor")
    al.add_argument("--table")
    al.set_defaults(func=cmd_audit_list)
