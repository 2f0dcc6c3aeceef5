"""The places above and below a village: counties and towns, villager groups, named zones."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from broadcast.errors import Conflict, NotFound, ValidationFailed
from broadcast.models import (
    Area,
    Broadcast,
    Command,
    Loudspeaker,
    ScheduleGroup,
    ScheduleVillage,
    ScheduleZone,
    Village,
    VillagerGroup,
    VolumeCeiling,
    Zone,
    ZoneVillage,
)
from broadcast.places import VILLAGE_CODE, find_village

AREA_CODE = re.compile(r"^\d{12}$")
GROUP_CODE = re.compile(r"^\d{12,15}$")


@dataclass(frozen=True)
class AreaView:
    id: int
    level: str
    code: str
    name: str
    parent_id: int | None


@dataclass(frozen=True)
class GroupView:
    id: int
    village_id: int
    code: str
    name: str


@dataclass(frozen=True)
class ZoneView:
    id: int
    name: str
    village_names: list[str] = field(default_factory=list)
    speaker_count: int = 0
    village_ids: list[int] = field(default_factory=list)


def add_area(
    s: Session, level: str, code: str, name: str, parent_code: str | None, now: datetime
) -> AreaView:
    """A county (code ``XXXXXX000000``) or a town (``XXXXXXYYY000``, under its county)."""
    code, name = code.strip(), name.strip()
    if level not in ("county", "town"):
        raise ValidationFailed("级别只能是县或乡镇", "level")
    if not AREA_CODE.match(code):
        raise ValidationFailed("区划代码须为 12 位数字", "code")
    if level == "county" and not code.endswith("000000"):
        raise ValidationFailed("县级区划代码后 6 位须为 0", "code")
    if level == "town" and (not code.endswith("000") or code.endswith("000000")):
        raise ValidationFailed("乡镇区划代码须为 9 位有效数字加 000", "code")
    if not name or len(name) > 100:
        raise ValidationFailed("名称须为 1–100 个字", "name")
    parent = None
    if level == "town":
        parent = s.scalar(select(Area).where(Area.code == code[:6] + "000000"))
        if parent is None:
            raise NotFound(f"找不到上级县（{code[:6]}000000），请先添加")
    elif parent_code:
        raise ValidationFailed("县级区划没有上级", "parent")
    if s.scalar(select(Area.id).where(Area.code == code)) is not None:
        raise Conflict(f"区划代码 {code} 已存在")
    area = Area(level=level, code=code, name=name, parent_id=parent.id if parent else None)
    area.created_at = now
    s.add(area)
    s.flush()
    return AreaView(area.id, area.level, area.code, area.name, area.parent_id)


def list_areas(s: Session) -> list[AreaView]:
    return [
        AreaView(a.id, a.level, a.code, a.name, a.parent_id)
        for a in s.scalars(select(Area).order_by(Area.code))
    ]


def place_village(s: Session, village_ref: str | int, town_code: str) -> None:
    """Put a village under its town."""
    village = find_village(s, village_ref)
    town = s.scalar(select(Area).where(Area.code == town_code, Area.level == "town"))
    if town is None:
        raise NotFound(f"找不到乡镇 {town_code}")
    village.town_id = town.id


def add_group(s: Session, village_ref: str | int, name: str, code: str, now: datetime) -> GroupView:
    village = find_village(s, village_ref)
    name, code = name.strip(), code.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("小组名称须为 1–100 个字", "name")
    if not GROUP_CODE.match(code):
        raise ValidationFailed("小组代码须为 12–15 位数字", "code")
    clash = s.scalar(
        select(VillagerGroup.id).where(
            (VillagerGroup.code == code)
            | ((VillagerGroup.village_id == village.id) & (VillagerGroup.name == name))
        )
    )
    if clash is not None:
        raise Conflict(f"小组“{name}”或代码 {code} 已存在")
    group = VillagerGroup(village_id=village.id, name=name, code=code, created_at=now)
    s.add(group)
    s.flush()
    return GroupView(group.id, group.village_id, group.code, group.name)


def find_group(s: Session, ref: str | int) -> VillagerGroup:
    """A villager group by id or code."""
    group = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit() and len(ref) < 9):
        group = s.get(VillagerGroup, int(ref))
    if group is None:
        group = s.scalar(select(VillagerGroup).where(VillagerGroup.code == str(ref)))
    if group is None:
        raise NotFound(f"找不到村民小组：{ref}")
    return group


def assign_speaker(
    s: Session,
    speaker_id: str,
    group_ref: str | int | None,
    location: str | None,
    latitude: float | None = None,
    longitude: float | None = None,
) -> None:
    """Set a loudspeaker's villager group (within its village) and where it hangs."""
    sp = s.get(Loudspeaker, speaker_id)
    if sp is None:
        raise NotFound(f"找不到喇叭 {speaker_id}")
    if group_ref is not None:
        group = find_group(s, group_ref)
        if group.village_id != sp.village_id:
            raise ValidationFailed("小组必须属于喇叭所在的村", "group")
        sp.group_id = group.id
    if location is not None:
        if len(location) > 200:
            raise ValidationFailed("位置描述不能超过 200 字", "location")
        sp.location = location.strip()
    if latitude is not None or longitude is not None:
        if (
            latitude is None
            or longitude is None
            or not (-90 <= latitude <= 90)
            or not (-180 <= longitude <= 180)
        ):
            raise ValidationFailed("经纬度不正确", "location")
        sp.latitude, sp.longitude = latitude, longitude


def find_zone(s: Session, ref: str | int) -> Zone:
    zone = None
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        zone = s.get(Zone, int(ref))
    if zone is None:
        zone = s.scalar(select(Zone).where(Zone.name == str(ref)))
    if zone is None:
        raise NotFound(f"找不到区域：{ref}")
    return zone


def save_zone(
    s: Session, name: str, villages: list[str | int], now: datetime, zone_id: int | None = None
) -> ZoneView:
    """Create a zone, or (with ``zone_id``) rename it and replace its villages."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("区域名称须为 1–100 个字", "name")
    if not villages:
        raise ValidationFailed("区域至少包含一个村", "villages")
    members = {v.id: v for v in (find_village(s, ref) for ref in villages)}
    clash = s.scalar(select(Zone).where(Zone.name == name))
    if clash is not None and clash.id != zone_id:
        raise Conflict(f"区域“{name}”已存在")
    zone = s.get(Zone, zone_id) if zone_id is not None else Zone(created_at=now)
    if zone is None:
        raise NotFound(f"找不到区域 {zone_id}")
    zone.name = name
    zone.villages = list(members.values())
    s.add(zone)
    s.flush()
    return zone_view(zone)


def zone_view(zone: Zone) -> ZoneView:
    speakers = sum(1 for v in zone.villages for sp in v.speakers if sp.revoked_at is None)
    return ZoneView(
        zone.id, zone.name, [v.name for v in zone.villages], speakers, [v.id for v in zone.villages]
    )


def list_zones(s: Session) -> list[ZoneView]:
    return [zone_view(z) for z in s.scalars(select(Zone).order_by(Zone.name))]


def delete_zone(s: Session, ref: str | int) -> None:
    zone = find_zone(s, ref)
    used = s.scalar(select(ScheduleZone.schedule_id).where(ScheduleZone.zone_id == zone.id))
    if used is not None:
        raise Conflict(f"区域“{zone.name}”正被播放计划 {used} 使用，不能删除")
    s.delete(zone)


def _area(s: Session, area_id: int) -> Area:
    area = s.get(Area, area_id)
    if area is None:
        raise NotFound(f"找不到区划 {area_id}")
    return area


def rename_area(s: Session, area_id: int, name: str) -> AreaView:
    """Rename a county or town (its code, which its children carry, stays)."""
    area = _area(s, area_id)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("名称须为 1–100 个字", "name")
    area.name = name
    return AreaView(area.id, area.level, area.code, area.name, area.parent_id)


def delete_area(s: Session, area_id: int) -> None:
    """Remove a county with no towns, or a town with no villages."""
    area = _area(s, area_id)
    if s.scalar(select(Area.id).where(Area.parent_id == area.id).limit(1)) is not None:
        raise Conflict(f"“{area.name}”下还有乡镇，不能删除")
    if s.scalar(select(Village.id).where(Village.town_id == area.id).limit(1)) is not None:
        raise Conflict(f"“{area.name}”下还有村，请先把村移到别的乡镇")
    s.delete(area)


@dataclass(frozen=True)
class PlaceVillage:
    """A village where it sits: its town (if placed) and its villager groups."""

    id: int
    code: str
    name: str
    town_id: int | None
    town_name: str | None
    groups: list[GroupView]
    speaker_count: int


def place_villages(s: Session) -> list[PlaceVillage]:
    towns = {a.id: a.name for a in s.scalars(select(Area).where(Area.level == "town"))}
    return [
        PlaceVillage(
            v.id,
            v.code,
            v.name,
            v.town_id,
            towns.get(v.town_id) if v.town_id is not None else None,
            [GroupView(g.id, g.village_id, g.code, g.name) for g in v.groups],
            sum(1 for sp in v.speakers if sp.revoked_at is None),
        )
        for v in s.scalars(select(Village).order_by(Village.code))
    ]


def edit_village(s: Session, village_id: int, name: str, code: str, town_code: str | None) -> None:
    """Rename a village, change its code, or move it to another town (None: no town)."""
    village = s.get(Village, village_id)
    if village is None:
        raise NotFound(f"找不到村：{village_id}")
    name, code = name.strip(), code.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("村名须为 1–100 个字", "name")
    if not VILLAGE_CODE.match(code):
        raise ValidationFailed("村代码须为 1–32 位字母或数字", "code")
    clash = s.scalar(
        select(Village.id).where(
            ((Village.name == name) | (Village.code == code)) & (Village.id != village.id)
        )
    )
    if clash is not None:
        raise Conflict(f"村名“{name}”或代码“{code}”已被别的村使用")
    village.name, village.code = name, code
    if town_code:
        place_village(s, village.id, town_code)
    else:
        village.town_id = None


def delete_village(s: Session, village_id: int) -> None:
    """Remove a village with no loudspeakers that no schedule targets (also its groups,
    its zone memberships and volume ceilings)."""
    village = s.get(Village, village_id)
    if village is None:
        raise NotFound(f"找不到村：{village_id}")
    if village.speakers:
        raise Conflict(f"{village.name}还有 {len(village.speakers)} 个喇叭，不能删除")
    group_ids = [g.id for g in village.groups]
    used = s.scalar(
        select(ScheduleVillage.schedule_id).where(ScheduleVillage.village_id == village.id)
    )
    if used is None and group_ids:
        used = s.scalar(
            select(ScheduleGroup.schedule_id).where(ScheduleGroup.group_id.in_(group_ids))
        )
    if used is not None:
        raise Conflict(f"{village.name}正被播放计划 #{used} 使用，不能删除")
    if (
        s.scalar(
            select(Broadcast.id)
            .join(Command)
            .join(Loudspeaker)
            .where(Loudspeaker.village_id == village.id)
            .limit(1)
        )
        is not None
    ):
        raise Conflict(f"{village.name}已有播放记录，不能删除")
    s.execute(delete(ZoneVillage).where(ZoneVillage.village_id == village.id))
    s.execute(delete(VolumeCeiling).where(VolumeCeiling.village_id == village.id))
    for group in list(village.groups):
        s.delete(group)
    s.flush()
    s.delete(village)


def list_groups(s: Session) -> list[tuple[GroupView, str]]:
    """Every villager group with its village's name."""
    rows = s.scalars(select(VillagerGroup).join(Village).order_by(Village.code, VillagerGroup.code))
    return [(GroupView(g.id, g.village_id, g.code, g.name), g.village.name) for g in rows]


def rename_group(s: Session, ref: str | int, name: str) -> GroupView:
    group = find_group(s, ref)
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationFailed("小组名称须为 1–100 个字", "name")
    clash = s.scalar(
        select(VillagerGroup.id).where(
            VillagerGroup.village_id == group.village_id,
            VillagerGroup.name == name,
            VillagerGroup.id != group.id,
        )
    )
    if clash is not None:
        raise Conflict(f"本村已有小组“{name}”")
    group.name = name
    return GroupView(group.id, group.village_id, group.code, group.name)


def delete_group(s: Session, ref: str | int) -> None:
    """Remove a group no schedule targets; its loudspeakers stay in the village."""
    group = find_group(s, ref)
    used = s.scalar(select(ScheduleGroup.schedule_id).where(ScheduleGroup.group_id == group.id))
    if used is not None:
        raise Conflict(f"小组“{group.name}”正被播放计划 #{used} 使用，不能删除")
    for sp in s.scalars(select(Loudspeaker).where(Loudspeaker.group_id == group.id)):
        sp.group_id = None
    s.flush()
    s.delete(group)


def get_zone(s: Session, ref: str | int) -> ZoneView:
    return zone_view(find_zone(s, ref))
