"""Small helpers for plain HTML forms: where an error message goes."""

from __future__ import annotations

from collections.abc import Collection

from broadcast.errors import CunxiangError, ValidationFailed

FORM_ERROR = "_form"


def errors_for(exc: CunxiangError, fields: Collection[str]) -> dict[str, str]:
    """Place a message next to its field, or at the top of the form."""
    field = exc.field if isinstance(exc, ValidationFailed) else None
    if field is None or field not in fields:
        field = FORM_ERROR
    return {field: str(exc)}
