"""The domain's error tree. Each edge (panel, API, CLI, MQTT handler) translates these."""


class CunxiangError(Exception):
    """Base of all expected, user-facing errors. The message is safe to show."""


class ConfigError(CunxiangError):
    """Settings are missing or invalid."""


class ValidationFailed(CunxiangError):
    """Input does not satisfy the domain's rules."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(CunxiangError):
    """A referenced object does not exist."""


class Conflict(CunxiangError):
    """The request conflicts with existing state (duplicate name, already exists)."""


class PermissionDenied(CunxiangError):
    """The current user may not do this."""
