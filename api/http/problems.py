"""Problem details (RFC 9457) for every error answer, and the mapping of library errors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kinoseal.api.http.observability import request_id_var
from kinoseal.api.http.services import HTTP_STATUS, TITLES, user_message
from kinoseal.errors import KinosealError

PROBLEM_TYPE = "application/problem+json"
STATUS_TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
                 405: "Method not allowed", 406: "Not acceptable", 409: "Conflict", 413: "Payload too large",
                 415: "Unsupported media type", 422: "Unprocessable content", 429: "Too many requests",
                 500: "Internal server error", 501: "Not implemented", 503: "Service unavailable"}


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or STATUS_TITLES.get(status, "Error")
        self.headers = headers or {}
        self.extra = extra


def problem_response(status: int, title: str, detail: str | None, *, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail,
                            "instance": instance, "request_id": request_id_var.get()}
    body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


def from_kinoseal_error(exc: KinosealError, names: dict[str, str] | None = None) -> ApiProblem:
    status = HTTP_STATUS.get(exc.kind, 400)
    return ApiProblem(status, user_message(exc, names), title=TITLES.get(exc.kind), kind=exc.kind)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def _api_problem(request: Request, exc: ApiProblem):
        return problem_response(exc.status, exc.title, exc.detail, instance=request.url.path,
                                headers=exc.headers, **exc.extra)

    @app.exception_handler(KinosealError)
    async def _kinoseal(request: Request, exc: KinosealError):
        p = from_kinoseal_error(exc)
        return problem_response(p.status, p.title, p.detail, instance=request.url.path, **p.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        detail = f"{'.'.join(first['loc'])}: {first['msg']}" if first["loc"] else first["msg"]
        return problem_response(422, "Invalid request", detail, instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem_response(exc.status_code, STATUS_TITLES.get(exc.status_code, "Error"), detail,
                                instance=request.url.path, headers=getattr(exc, "headers", None))
