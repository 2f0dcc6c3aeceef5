"""Public, read-only listen-again pages (村务公开): what each village heard in the last
30 days, with the audio to replay. No login and nothing internal: no loudspeaker ids,
no staff names, no commands."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, render_template, url_for
from flask.typing import ResponseReturnValue

from broadcast.media import media_token
from broadcast.reports import PUBLIC_DAYS, PublicBroadcast
from web.context import services

bp = Blueprint("public", __name__, url_prefix="/public")

# Replay links stay valid for a few hours, on whole hours so a page reloaded within the
# hour links the same URLs (and browsers reuse what they fetched).
LINK_HOURS = 6


def _audio_url(item: PublicBroadcast) -> str | None:
    svc = services()
    for sha in (item.audio_sha256, item.notice_audio_sha256):
        if svc.media_path(sha) is not None:
            now = int(svc.now().timestamp())
            exp = (now // 3600 + 1) * 3600 + LINK_HOURS * 3600
            token = media_token(svc.media_secret, sha, exp)
            return url_for("media.audio", sha256=sha, exp=exp, token=token)
    return None


@bp.get("/")
def index() -> ResponseReturnValue:
    villages = services().list_villages()
    return render_template("public/index.html", villages=villages, days=PUBLIC_DAYS)


@bp.get("/<ref>")
def village(ref: str) -> ResponseReturnValue:
    svc = services()
    found, heard = svc.village_heard(ref)
    items = [(item, _audio_url(item)) for item in heard]
    since = svc.now() - timedelta(days=PUBLIC_DAYS)
    return render_template(
        "public/village.html", village=found, items=items, days=PUBLIC_DAYS, since=since
    )
