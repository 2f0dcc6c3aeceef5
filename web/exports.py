"""The as-run log as CSV (streamed) and XLSX (openpyxl, write-only), with Chinese headers."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo

from openpyxl import Workbook

from broadcast.asrun import AsRunRow
from web.display import broadcast_state, reason
from web.outcomes import outcome_label

HEADERS = (
    "广播编号",
    "计划时间",
    "通知",
    "演练",
    "优先级",
    "广播状态码",
    "广播状态",
    "村",
    "喇叭编号",
    "喇叭名称",
    "结果代码",
    "结果",
    "原因",
    "播放次数",
    "接收时间",
    "开始时间",
    "结束时间",
)
BATCH = 1000


def _time(value: datetime | None, zone: ZoneInfo) -> str:
    # isoformat is several times faster than strftime, which counts at 100,000 rows.
    return value.astimezone(zone).isoformat(" ", "seconds")[:19] if value else ""


@cache
def _state(state: int) -> str:
    return broadcast_state(state)


def values(row: AsRunRow, zone: ZoneInfo, planned: str | None = None) -> list[str | int]:
    """One row's cells; ``planned``: its broadcast's time, already formatted."""
    return [
        row.broadcast_id,
        _time(row.planned_at, zone) if planned is None else planned,
        row.notice_title,
        "是" if row.drill else "",
        row.priority,
        row.state,
        _state(row.state),
        row.village_name,
        row.speaker_id,
        row.speaker_name,
        row.outcome,
        outcome_label(row),
        reason(row.reason) if row.reason else "",
        row.plays,
        _time(row.received_at, zone),
        _time(row.started_at, zone),
        _time(row.ended_at, zone),
    ]


def csv_chunks(rows: Iterable[AsRunRow], zone: ZoneInfo) -> Iterator[bytes]:
    """CSV in UTF-8 with a byte-order mark (so spreadsheet programs read the Chinese),
    one chunk per ``BATCH`` rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    pending = 0
    first = True
    broadcast, planned = None, ""
    for row in rows:
        if row.broadcast_id != broadcast:  # rows come broadcast by broadcast
            broadcast, planned = row.broadcast_id, _time(row.planned_at, zone)
        writer.writerow(values(row, zone, planned))
        pending += 1
        if pending >= BATCH:
            yield _take(buffer, first)
            first, pending = False, 0
    yield _take(buffer, first)


def _take(buffer: io.StringIO, first: bool) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return ("\ufeff" + text if first else text).encode("utf-8")


def xlsx_file(rows: Iterable[AsRunRow], zone: ZoneInfo) -> io.BytesIO:
    """A workbook written row by row (openpyxl write-only mode); 100,000 rows make ~5 MB."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("播出记录")
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append(values(row, zone))
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    return out
