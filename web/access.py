"""Who may call which route: one table for the panel and the API.

A route's permission (see ``broadcast.accounts.PERMISSIONS``) comes from its endpoint if it
is named below, otherwise from its blueprint and whether the method only reads. A
blueprint nobody named here needs an admin for writes: new routes fail closed.
"""

from __future__ import annotations

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Open to everyone, no login: the login page, static files, the health check, the media
# endpoint (it checks its own expiring token or the session) and the public listen-again
# pages (村务公开).
PUBLIC_ENDPOINTS = frozenset(
    {"auth.login", "auth.logout", "static", "healthz", "media.audio", "media.audio_opus"}
)
PUBLIC_BLUEPRINTS = frozenset({"public"})

# blueprint -> (permission to read, permission to write)
BLUEPRINTS: dict[str, tuple[str, str]] = {
    "notices": ("read", "write"),
    "schedules": ("read", "write"),
    "lexicon": ("read", "write"),
    "programmes": ("read", "write"),
    "speakers": ("read", "speakers"),
    "villages": ("read", "speakers"),
    "places": ("read", "speakers"),
    "village_sound": ("write", "write"),  # a village's voice, rate and format: how it sounds
    "health": ("read", "speakers"),
    "log": ("read", "stop"),
    "reports": ("read", "read"),
    "emergency": ("emergency_view", "emergency"),
    "review": ("read", "review"),
    "users": ("accounts", "accounts"),
    "audit": ("audit", "audit"),
    "account": ("read", "read"),  # one's own password
    "api": ("read", "write"),
}

# Endpoints that differ from their blueprint's rule.
ENDPOINTS: dict[str, str] = {
    # Forms that only an author may use are not shown to others either.
    "notices.new": "write",
    "schedules.edit": "write",
    "lexicon.edit": "write",
    "programmes.new": "write",
    "programmes.edit": "write",
    "places.new_zone": "speakers",
    "villages.quiet_hours": "speakers",
    "villages.volume": "speakers",
    "review.submit": "write",
    "emergency_confirm.confirm": "confirm",
    "emergency_confirm.withdraw": "emergency_view",
    # API
    "api.update_village": "speakers",
    "api.replace_village": "speakers",
    "api.create_village": "speakers",
    "api.delete_village": "speakers",
    "api.set_volume_ceilings": "speakers",
    "api.create_area": "speakers",
    "api.rename_area": "speakers",
    "api.delete_area": "speakers",
    "api.create_group": "speakers",
    "api.rename_group": "speakers",
    "api.delete_group": "speakers",
    "api.create_zone": "speakers",
    "api.replace_zone": "speakers",
    "api.delete_zone": "speakers",
    "api.cancel_broadcast": "stop",
    "api.send_emergency": "emergency",
    "api.confirm_emergency": "confirm",
    "api.submit_review": "write",
    "api.approve": "review",
    "api.reject": "review",
    "api.review_queue": "read",
}


def is_public(endpoint: str | None) -> bool:
    if endpoint is None:
        return True  # no route: the 404 handler answers
    return endpoint in PUBLIC_ENDPOINTS or endpoint.split(".", 1)[0] in PUBLIC_BLUEPRINTS


def permission_for(endpoint: str, method: str) -> str:
    """The permission a request to ``endpoint`` with ``method`` needs."""
    if endpoint in ENDPOINTS:
        return ENDPOINTS[endpoint]
    blueprint = endpoint.split(".", 1)[0] if "." in endpoint else ""
    read, write = BLUEPRINTS.get(blueprint, ("read", "accounts"))
    return read if method in SAFE_METHODS else write
