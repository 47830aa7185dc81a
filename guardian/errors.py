"""Errors as every HTTP answer of Guardian's gives them: JSON `{"error", "detail"}`."""

from __future__ import annotations

from aiohttp import web


def error_response(status: int, error: str, detail: object, **headers: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers)
