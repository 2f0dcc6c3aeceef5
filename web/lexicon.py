"""Panel: 读音 — the pronunciation lexicon (list, add, edit, delete) and a 试读 box."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from broadcast.errors import Conflict, ValidationFailed
from broadcast.lexicon import LexiconEntryView
from web.auth import require_login, session_user
from web.context import services
from web.forms import errors_for

logger = logging.getLogger(__name__)

bp = Blueprint("lexicon", __name__)
bp.before_request(require_login)

FIELDS = ("term", "replacement", "note")


def _posted() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in FIELDS}


def _index_page(form: dict[str, str], errors: dict[str, str], status: int) -> Response:
    trial = request.args.get("try", "")
    spoken, trial_error = "", ""
    if trial.strip():
        try:
            spoken = services().spoken_text(trial, "try")
        except ValidationFailed as exc:
            trial_error = str(exc)
    html = render_template(
        "lexicon/index.html",
        entries=services().list_lexicon(),
        form=form,
        errors=errors,
        trial=trial,
        spoken=spoken,
        trial_error=trial_error,
    )
    return Response(html, status=status, mimetype="text/html")


@bp.get("/lexicon")
def index() -> ResponseReturnValue:
    return _index_page({name: "" for name in FIELDS}, {}, 200)


@bp.post("/lexicon")
def add() -> ResponseReturnValue:
    form = _posted()
    user = session_user()
    try:
        entry = services().add_lexicon_entry(
            form["term"], form["replacement"], form["note"], user.username if user else ""
        )
    except (ValidationFailed, Conflict) as exc:  # Conflict: the term has an entry already
        return _index_page(form, errors_for(exc, FIELDS), 400)
    flash(f"已添加：“{entry.term}”读作“{entry.replacement}”。已保存的通知要重新合成才会改变", "ok")
    return redirect(url_for("lexicon.index"))


def _edit_page(
    entry: LexiconEntryView, form: dict[str, str], errors: dict[str, str], status: int
) -> Response:
    html = render_template("lexicon/edit.html", entry=entry, form=form, errors=errors)
    return Response(html, status=status, mimetype="text/html")


@bp.get("/lexicon/<int:entry_id>/edit")
def edit(entry_id: int) -> ResponseReturnValue:
    entry = services().get_lexicon_entry(entry_id)
    form = {"term": entry.term, "replacement": entry.replacement, "note": entry.note}
    return _edit_page(entry, form, {}, 200)


@bp.post("/lexicon/<int:entry_id>/edit")
def update(entry_id: int) -> ResponseReturnValue:
    entry = services().get_lexicon_entry(entry_id)
    form = _posted()
    try:
        entry = services().update_lexicon_entry(
            entry_id, form["term"], form["replacement"], form["note"]
        )
    except (ValidationFailed, Conflict) as exc:
        return _edit_page(entry, form, errors_for(exc, FIELDS), 400)
    flash(f"已修改：“{entry.term}”读作“{entry.replacement}”", "ok")
    return redirect(url_for("lexicon.index"))


@bp.post("/lexicon/<int:entry_id>/delete")
def delete(entry_id: int) -> ResponseReturnValue:
    entry = services().get_lexicon_entry(entry_id)
    services().delete_lexicon_entry(entry_id)
    flash(f"已删除“{entry.term}”的读法", "ok")
    return redirect(url_for("lexicon.index"))
