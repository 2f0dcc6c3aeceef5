"""Errors translated at the edge: JSON ``{"error", "message"}`` for the API, a page otherwise."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from broadcast.errors import (
    Conflict,
    CunxiangError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
}
MESSAGES = {
    400: "请求有误",
    401: "请先登录",
    403: "没有权限",
    404: "找不到该页面或对象",
    405: "不支持该请求方法",
    409: "与现有数据冲突",
    413: "请求内容过大",
    415: "请求体须为 JSON（Content-Type: application/json）",
    429: "请求过于频繁，请稍后再试",
    500: "服务器内部错误，请稍后再试",
}
CSRF_MESSAGE = "页面已过期或缺少安全令牌，请刷新页面后重试"


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/media/"))


def json_error(
    status: int, message: str, code: str | None = None, field: str | None = None
) -> Response:
    body: dict[str, str] = {"error": code or CODES.get(status, "error"), "message": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def domain_status(exc: CunxiangError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict):
        return 409
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, ValidationFailed):
        return 400
    return 500


def _respond(
    status: int, message: str, code: str | None = None, field: str | None = None
) -> Response:
    if wants_json():
        return json_error(status, message, code, field)
    html = render_template("error.html", status=status, message=message)
    return Response(html, status=status, mimetype="text/html")


def _on_domain(exc: CunxiangError) -> Response:
    status = domain_status(exc)
    if status == 500:
        logger.error("unexpected domain error at %s: %s", request.path, exc)
        return _respond(500, MESSAGES[500])
    if isinstance(exc, ValidationFailed):
        return _respond(400, str(exc), "validation_failed", exc.field)
    return _respond(status, str(exc))


def _on_csrf(_exc: CSRFError) -> Response:
    return _respond(400, CSRF_MESSAGE, "csrf_failed")


def _on_http(exc: HTTPException) -> ResponseReturnValue:
    status = exc.code or 500
    if status < 400:
        return exc
    response = _respond(status, MESSAGES.get(status, exc.name))
    if status == 405 and exc.response is None:
        allowed = exc.get_response().headers.get("Allow")
        if allowed:
            response.headers["Allow"] = allowed
    return response


def _on_unexpected(exc: Exception) -> Response:
    logger.error("unhandled error at %s %s", request.method, request.path, exc_info=exc)
    return _respond(500, MESSAGES[500])


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _on_csrf)
    app.register_error_handler(CunxiangError, _on_domain)
    app.register_error_handler(HTTPException, _on_http)
    app.register_error_handler(Exception, _on_unexpected)
