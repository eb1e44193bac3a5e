"""Request plumbing shared by the routes: the server state, the caller's principal, bounded uploads."""
from __future__ import annotations

import os
import re
import tempfile

from fastapi import Request, UploadFile

from .. import auth
from ..errors import MedvizError
from .errors import ApiError

LOCAL_USER_HEADER = "X-Medviz-User"
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def state(request: Request):
    return request.app.state.medviz


def principal(request: Request):
    """Who is calling: a bearer token's principal; in local mode (no [auth], no tokens, loopback) the name
    in ``X-Medviz-User`` or nobody. With tokens or [auth] configured, no token -> 401 (AuthError)."""
    s = state(request)
    header = request.headers.get("authorization")
    if header:
        return auth.authenticate_token(s.store, header)
    mode = auth.auth_mode(s.secrets, s.host, s.store)
    if mode != "local":
        raise auth.AuthError("sign in first: send 'Authorization: Bearer <token>' (ask an admin for a token)")
    name = request.headers.get(LOCAL_USER_HEADER)
    return auth.local(name, s.secrets) if name else None


def reader(request: Request):
    """Reads of data: anyone in local mode, a valid token otherwise."""
    return principal(request)


def actor(request: Request):
    """Writes: a principal is required (in local mode: the ``X-Medviz-User`` header)."""
    p = principal(request)
    if p is None:
        raise auth.AuthError(f"say who you are: send '{LOCAL_USER_HEADER}: <your name>' (local mode) or "
                             "'Authorization: Bearer <token>'")
    return p


def check_length(request: Request) -> None:
    """Refuse an upload over the limit from its Content-Length, before reading or parsing anything."""
    limit = state(request).max_upload_bytes
    n = request.headers.get("content-length")
    if n is not None and n.isdigit() and int(n) > limit:
        raise ApiError(413, f"upload of {int(n):,} bytes is larger than this server's limit of {limit:,} bytes "
                            "(MEDVIZ_MAX_UPLOAD_MB)", field="file")


async def save_upload(request: Request, upload: UploadFile, folder: str) -> str:
    """Stream an uploaded file to ``folder`` (bounded by the server's limit); returns its path."""
    limit = state(request).max_upload_bytes
    name = _SAFE_NAME.sub("_", os.path.basename(upload.filename or "upload")).strip("._") or "upload"
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            while True:
                chunk = await upload.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, f"upload is larger than this server's limit of {limit:,} bytes",
                                   file=upload.filename, field="file")
                f.write(chunk)
        if size == 0:
            raise MedvizError("the uploaded file is empty", file=upload.filename, field="file")
        path = os.path.join(folder, name)
        os.replace(tmp, path)
        return path
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
