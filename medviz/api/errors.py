"""Every API error is JSON ``{"error", "file", "record", "field"}`` with a 4xx status; never a traceback."""
from __future__ import annotations

import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import MedvizError

_log = logging.getLogger("medviz.api")


class ErrorBody(BaseModel):
    error: str
    file: str | None = None
    record: str | None = None
    field: str | None = None


class ApiError(MedvizError):
    """A MedvizError with an HTTP status (404 not found, 409 conflict, 413 too large)."""

    def __init__(self, status: int, message: str, **where):
        super().__init__(message, **where)
        self.http_status = status


def not_found(message: str, **where) -> ApiError:
    return ApiError(404, message, **where)


ERROR_RESPONSES = {code: {"model": ErrorBody, "description": text} for code, text in (
    (400, "bad input (the message names the file, record and field)"),
    (401, "not signed in: send Authorization: Bearer <token>"),
    (403, "signed in, but this principal may not do this"),
    (404, "no such benchmark, unit, annotation or job"),
    (409, "conflict: the thing changed meanwhile or already exists"),
    (413, "upload larger than the server's limit"),
)}


def body(message: str, *, file=None, record=None, field=None) -> dict:
    return {"error": message, "file": file, "record": record, "field": field}


def status_of(e: MedvizError) -> int:
    status = getattr(e, "http_status", None)
    if isinstance(status, int):
        return status
    if e.field == "revision" or "already" in (e.detail or ""):
        return 409
    return 400


async def medviz_error(request: Request, e: MedvizError):
    return JSONResponse(body(e.detail, file=e.file, record=e.record, field=e.field), status_code=status_of(e))


async def validation_error(request: Request, e: RequestValidationError):
    errs = e.errors()
    first = errs[0] if errs else {}
    loc = [str(x) for x in first.get("loc", ()) if x not in ("body", "query", "path", "header")]
    return JSONResponse(body(first.get("msg", "invalid request"), field=".".join(loc) or None), status_code=400)


async def http_error(request: Request, e: StarletteHTTPException):
    status = e.status_code if e.status_code in (400, 401, 403, 404, 405, 409, 413) else 400
    return JSONResponse(body(str(e.detail)), status_code=status)


async def unexpected(request: Request, e: Exception):
    _log.exception("API error on %s %s", request.method, request.url.path)
    return JSONResponse(body(f"internal error ({type(e).__name__}); the server log has the details"),
                        status_code=500)


def install(app) -> None:
    app.add_exception_handler(MedvizError, medviz_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)
