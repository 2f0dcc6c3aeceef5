"""Turns schedule rows into APScheduler jobs and fires their occurrences."""
