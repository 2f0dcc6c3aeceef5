"""Account scope: the villages an account sees and may target.

An account's scope is a set of areas (towns, or a county: all its towns) and single
villages; an empty scope is the whole install. ``visible_village_ids`` is the one function
everything else asks: ``None`` means every village.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from broadcast.accounts import UserView
from broadcast.errors import PermissionDenied
from broadcast.models import Area, Schedule, User, Village, Zone
from broadcast.planning import Targets

VillageIds = frozenset[int] | None


def _user(s: Session, user: UserView | User | str | None) -> User | None:
    if user is None:
        return None
    if isinstance(user, User):
        return user
    if isinstance(user, UserView):
        return s.get(User, user.id)
    return s.scalar(select(User).where(User.username == user))


def visible_village_ids(s: Session, user: UserView | User | str | None) -> VillageIds:
    """The ids of the villages ``user`` (an account, or a username) works for; ``None`` for
    all of them: an account with an empty scope, or no account (the CLI, the scheduler)."""
    row = _user(s, user)
    if row is None:
        return None
    area_ids = {a.id for a in row.towns}
    ids = {v.id for v in row.villages}
    if not area_ids and not ids:
        return None
    if area_ids:
        # A county in the scope brings all its towns.
        area_ids |= set(s.scalars(select(Area.id).where(Area.parent_id.in_(area_ids))))
        ids |= set(s.scalars(select(Village.id).where(Village.town_id.in_(area_ids))))
    return frozenset(ids)


def allows(scope: VillageIds, village_ids: Iterable[int]) -> bool:
    return scope is None or set(village_ids) <= scope


def touches(scope: VillageIds, village_ids: Iterable[int]) -> bool:
    """True when any of ``village_ids`` is in the scope (or the scope is everything)."""
    return scope is None or not scope.isdisjoint(village_ids)


def schedule_village_ids(row: Schedule) -> set[int]:
    """Every village a schedule reaches: its villages, zones, groups and loudspeakers."""
    return {v.id for v in Targets(row.villages, row.zones, row.groups, row.speakers).all_villages()}


def check_villages(s: Session, scope: VillageIds, village_ids: Iterable[int]) -> None:
    """Refuse targets outside the scope, naming them."""
    if scope is None:
        return
    outside = sorted(set(village_ids) - scope)
    if outside:
        names = s.scalars(select(Village.name).where(Village.id.in_(outside)).order_by(Village.id))
        raise PermissionDenied(f"超出本账号的管辖范围：{'、'.join(names)}")


def check_schedule(s: Session, scope: VillageIds, schedule_id: int) -> None:
    if scope is None:
        return
    row = s.get(Schedule, schedule_id)
    if row is not None:
        check_villages(s, scope, schedule_village_ids(row))


def visible_schedule_ids(s: Session, scope: VillageIds) -> frozenset[int] | None:
    """Schedules that reach at least one village in the scope (None: all)."""
    if scope is None:
        return None
    rows = s.scalars(
        select(Schedule).options(
            selectinload(Schedule.villages),
            selectinload(Schedule.zones).selectinload(Zone.villages),
            selectinload(Schedule.groups),
            selectinload(Schedule.speakers),
        )
    )
    return frozenset(r.id for r in rows if touches(scope, schedule_village_ids(r)))


def visible_zone_ids(s: Session, scope: VillageIds) -> frozenset[int] | None:
    """Zones wholly inside the scope (a zone reaching further cannot be targeted)."""
    if scope is None:
        return None
    zones = s.scalars(select(Zone).options(selectinload(Zone.villages)))
    return frozenset(z.id for z in zones if allows(scope, (v.id for v in z.villages)))
