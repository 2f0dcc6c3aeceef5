"""The web edge: panel (HTML, zh-CN), JSON API and media endpoint over ``broadcast.Services``."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, jsonify
from flask.json.provider import DefaultJSONProvider
from flask_wtf.csrf import CSRFProtect

from broadcast.keys import load_or_create_secret
from broadcast.services import Services
from web import (
    api,
    api_planning,
    api_review,
    api_speech,
    audit_log,
    auth,
    display,
    emergency,
    emergency_confirm,
    errors,
    health,
    lexicon,
    log,
    media,
    notices,
    places,
    programmes,
    public,
    reports,
    review,
    schedules,
    speakers,
    uploads,
    users,
    village_sound,
    villages,
)
from web.context import attach

SESSION_LIFETIME = timedelta(hours=8)
# Everything is served from the app itself: no CDN, no inline script.
CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class _Json(DefaultJSONProvider):
    ensure_ascii = False  # Chinese stays readable in API responses


def _secret_key(services: Services) -> str:
    configured = services.settings.web.secret_key
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value()
    return load_or_create_secret(services.settings.keys_dir / "session.secret")


def _security_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    return response


def _healthz() -> Response:
    return jsonify(status="ok")


def create_app(services: Services, *, testing: bool = False) -> Flask:
    """Build the Flask app around an already wired ``Services`` facade."""
    app = Flask(__name__)
    app.request_class = uploads.UploadRequest  # recordings may be larger on the upload routes
    app.config.update(
        TESTING=testing,
        SECRET_KEY=_secret_key(services),
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=services.settings.web.base_url().startswith("https://"),
        SESSION_COOKIE_NAME="cunxiang_session",
        # The CSRF token lives as long as the session rather than one hour.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    app.json = _Json(app)
    attach(app, services)
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)  # the API checks CSRF itself, for session-authenticated calls only
    auth.setup(app)
    emergency.setup(app)
    for blueprint in (notices.bp, schedules.bp, speakers.bp, villages.bp, log.bp, media.bp, api.bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(lexicon.bp)
    for blueprint in (reports.bp, health.bp, public.bp):  # as-run reports, public page
        app.register_blueprint(blueprint)
    app.register_blueprint(programmes.bp)
    app.register_blueprint(places.bp)
    app.register_blueprint(village_sound.bp)  # 播音设置: voice, rate, format per village
    api_planning.check_registered(app)  # programmes, places, ceilings, plan: on api.bp
    review.setup(app)  # 审核, and the status badges of notices and schedules
    audit_log.setup(app)
    app.register_blueprint(emergency_confirm.bp)
    app.register_blueprint(users.bp)
    app.register_blueprint(users.account_bp)
    api_review.check_registered(app)  # review and emergency confirmation: on api.bp
    api_speech.check_registered(app)  # its routes (lexicon, recordings, 重新合成) are on api.bp
    app.add_url_rule("/healthz", "healthz", _healthz)
    display.register(app)
    errors.register(app)
    app.after_request(_security_headers)
    return app
