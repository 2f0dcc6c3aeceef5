"""Cunxiang domain core: places, loudspeakers, notices, schedules, broadcasts, receipts."""
