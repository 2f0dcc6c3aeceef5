"""Every route, unauthenticated and as each role: login redirect / 401 JSON / 403 / allowed.

The table below is the specification; a route it does not know fails the test, so every
new route gets an explicit decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from broadcast.services import Services
from tests.conftest import ServicesFactory
from tests.helpers import Clock, csrf, log_in
from web import create_app
from web.auth import SESSION_CLOCK

pytestmark = pytest.mark.approval

ALL = frozenset({"admin", "editor", "reviewer", "operator"})
WRITE = frozenset({"admin", "editor"})
REVIEW = frozenset({"admin", "reviewer"})
SPEAKERS = frozenset({"admin", "operator"})
ADMIN = frozenset({"admin"})
EMERGENCY_VIEW = frozenset({"admin", "editor", "reviewer"})
PASSWORDS = {role: f"{role}-password-1" for role in ALL}

# Public routes, named one by one. Audio for loudspeakers: each media route checks its own
# expiring token (401 without one, below) or the panel session.
PUBLIC = {"auth.login", "auth.logout", "static", "healthz", "media.audio", "media.audio_opus"}
PUBLIC_BLUEPRINTS = {"public"}  # the listen-again pages (村务公开)

# blueprint -> (roles that may read, roles that may write)
BLUEPRINTS = {
    "notices": (ALL, WRITE),
    "schedules": (ALL, WRITE),
    "lexicon": (ALL, WRITE),
    "programmes": (ALL, WRITE),
    "speakers": (ALL, SPEAKERS),
    "villages": (ALL, SPEAKERS),
    "places": (ALL, SPEAKERS),
    "village_sound": (WRITE, WRITE),  # as Services.set_village_sound requires
    "health": (ALL, SPEAKERS),
    "log": (ALL, ALL),  # writing = stopping a broadcast: a safety action for everyone
    "reports": (ALL, ALL),
    "emergency": (EMERGENCY_VIEW, WRITE),
    "emergency_confirm": (EMERGENCY_VIEW, REVIEW),
    "review": (ALL, REVIEW),
    "users": (ADMIN, ADMIN),
    "audit": (ADMIN, ADMIN),
    "account": (ALL, ALL),
    "api": (ALL, WRITE),
}
ENDPOINTS = {
    "notices.new": WRITE,
    "schedules.edit": WRITE,
    "lexicon.edit": WRITE,
    "programmes.new": WRITE,
    "programmes.edit": WRITE,
    "places.new_zone": SPEAKERS,
    "villages.quiet_hours": SPEAKERS,
    "villages.volume": SPEAKERS,
    "review.submit": WRITE,
    "emergency_confirm.withdraw": EMERGENCY_VIEW,
    "api.cancel_broadcast": ALL,
    "api.send_emergency": WRITE,
    "api.confirm_emergency": REVIEW,
    "api.approve": REVIEW,
    "api.reject": REVIEW,
    "api.submit_review": WRITE,
    **{
        f"api.{name}": SPEAKERS
        for name in (
            "update_village",
            "replace_village",
            "create_village",
            "delete_village",
            "set_volume_ceilings",
            "create_area",
            "rename_area",
            "delete_area",
            "create_group",
            "rename_group",
            "delete_group",
            "create_zone",
            "replace_zone",
            "delete_zone",
        )
    },
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def expected_roles(endpoint: str, method: str) -> frozenset[str]:
    if endpoint in ENDPOINTS:
        return ENDPOINTS[endpoint]
    blueprint = endpoint.split(".", 1)[0]
    assert blueprint in BLUEPRINTS, f"route {endpoint} is not in the access table: decide"
    read, write = BLUEPRINTS[blueprint]
    return read if method == "GET" else write


def is_public(endpoint: str) -> bool:
    return endpoint in PUBLIC or endpoint.split(".", 1)[0] in PUBLIC_BLUEPRINTS


def url_of(rule: Rule) -> str:
    """The rule with harmless arguments: ids that do not exist, names that match nothing."""
    url = re.sub(r"<int:[^>]+>", "999999", rule.rule)
    return re.sub(r"<(?:[a-z]+:)?[^>]+>", "nope", url)


@pytest.fixture
def clock(fixed_now: datetime) -> Clock:
    return Clock(fixed_now)


@pytest.fixture
def svc(make_services: ServicesFactory, clock: Clock) -> Services:
    services = make_services(clock=clock)
    for role in sorted(ALL):
        services.add_user(role, PASSWORDS[role], role)
    services.add_village("东村", "dc")
    services.add_speaker("dc-01", "dc")
    return services


@pytest.fixture
def app(svc: Services) -> Flask:
    return create_app(svc)  # not testing: a failing view answers 500, listed below


def login(client: FlaskClient, username: str, password: str) -> str:
    return log_in(client, username, password, then="/account/password")


def routes(app: Flask) -> Iterator[tuple[str, str, str]]:
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in METHODS:
            if method in (rule.methods or ()):
                yield rule.endpoint, method, url_of(rule)


def call(client: FlaskClient, method: str, url: str, token: str | None) -> tuple[int, str]:
    headers = {"X-CSRFToken": token} if token else {}
    if url.startswith("/api/"):
        response = client.open(url, method=method, json={}, headers=headers)
    else:
        data = {"csrf_token": token} if token and method != "GET" else None
        response = client.open(url, method=method, data=data, headers=headers)
    return response.status_code, response.headers.get("Location", "")


def test_every_route_unauthenticated(app: Flask) -> None:
    client = app.test_client()
    token = csrf(client.get("/login").get_data(as_text=True))
    wrong = []
    for endpoint, method, url in routes(app):
        if endpoint == "auth.logout":
            continue  # it clears the session (and its CSRF token): checked last
        status, location = call(client, method, url, token)
        if is_public(endpoint):
            if endpoint.startswith("media."):
                ok = status == 401
            else:
                ok = status not in (401, 403) and "/login" not in location
        elif url.startswith("/api/"):
            ok = status == 401
        else:
            ok = status == 302 and "/login" in location
        if not ok:
            wrong.append(f"{method} {url} ({endpoint}): {status} {location}")
    assert not wrong, "\n".join(wrong)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/login"


@pytest.mark.parametrize("role", sorted(ALL))
def test_every_route_as_each_role(app: Flask, role: str) -> None:
    client = app.test_client()
    token = login(client, role, PASSWORDS[role])
    wrong = []
    for endpoint, method, url in routes(app):
        if endpoint == "auth.logout":
            continue  # checked below: it would end this walk
        status, location = call(client, method, url, token)
        if is_public(endpoint):
            allowed: frozenset[str] = ALL
        else:
            allowed = expected_roles(endpoint, method)
        if role in allowed:
            ok = status not in (401, 403) and status < 500 and "/login" not in location
        else:
            ok = status == 403
        if not ok:
            wrong.append(f"{method} {url} ({endpoint}): {status} {location}")
    assert not wrong, "\n".join(wrong)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/notices").status_code == 302


def test_api_with_basic_auth_is_held_to_the_role(app: Flask) -> None:
    client = app.test_client()
    as_operator = {"Authorization": "Basic " + _basic("operator")}
    response = client.post("/api/v1/notices", json={"title": "t", "body": "b"}, headers=as_operator)
    assert response.status_code == 403
    assert response.get_json()["error"] == "forbidden"
    assert client.get("/api/v1/notices", headers=as_operator).status_code == 200
    as_editor = {"Authorization": "Basic " + _basic("editor")}
    assert client.post("/api/v1/notices/1/approve", headers=as_editor).status_code == 403


def _basic(role: str) -> str:
    import base64

    return base64.b64encode(f"{role}:{PASSWORDS[role]}".encode()).decode()


def test_every_panel_form_carries_a_csrf_token(app: Flask, svc: Services) -> None:
    client = app.test_client()
    login(client, "admin", PASSWORDS["admin"])
    pages = [
        url
        for endpoint, method, url in routes(app)
        if method == "GET"
        and not url.startswith(("/api/", "/media/", "/static/"))
        and "nope" not in url
        and "999999" not in url
        and not url.endswith((".csv", ".xlsx"))
    ]
    checked = 0
    for url in pages:
        html = client.get(url).get_data(as_text=True)
        for form in re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I):
            if re.search(r'method="post"', form, flags=re.I):
                checked += 1
                assert 'name="csrf_token"' in form, f"{url}: form without CSRF token: {form[:200]}"
    assert checked >= 5
    # And a form posted without its token is refused.
    assert client.post("/users", data={"username": "x"}).status_code == 400


def test_sessions_end_when_idle_and_have_a_lifetime(
    app: Flask, svc: Services, clock: Clock
) -> None:
    assert app.permanent_session_lifetime == timedelta(hours=svc.settings.web.session_hours)
    seconds = [1_000_000.0]
    app.extensions[SESSION_CLOCK] = lambda: seconds[0]
    idle = svc.settings.web.idle_minutes * 60
    client = app.test_client()
    login(client, "editor", PASSWORDS["editor"])
    assert client.get("/notices").status_code == 200
    clock.now += timedelta(hours=5)  # the domain's clock does not end sessions
    seconds[0] += idle - 60
    assert client.get("/notices").status_code == 200
    seconds[0] += idle + 60
    response = client.get("/notices")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert "长时间未操作" in client.get("/login").get_data(as_text=True)


def test_deactivated_account_is_logged_out_at_once(app: Flask, svc: Services) -> None:
    client = app.test_client()
    login(client, "operator", PASSWORDS["operator"])
    assert client.get("/speakers").status_code == 200
    svc.update_user("operator", active=False)
    assert client.get("/speakers").status_code == 302
