"""Access to the domain facade and settings from inside a request."""

from __future__ import annotations

from typing import cast
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from broadcast.services import Services

_KEY = "cunxiang.services"


def attach(app: Flask, services: Services) -> None:
    app.extensions[_KEY] = services


def services() -> Services:
    """The ``Services`` facade the running app was created with."""
    return cast(Services, current_app.extensions[_KEY])


def zone() -> ZoneInfo:
    """The time zone the panel shows times in."""
    return services().settings.zone
