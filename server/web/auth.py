"""Who may write: the bearer token check shared by SPARQL Update and the Graph Store Protocol.

Writes are possible only when the store is writable (``--empty``) *and* an UPDATE_TOKEN is
configured; otherwise every write is refused with 403 before anything is parsed, so a
public server changes nothing whatever it is sent. With a token: no or malformed
Authorization → 401 (with a ``WWW-Authenticate: Bearer`` challenge), a wrong token → 403.
"""
from __future__ import annotations

import hmac

from flask import current_app, request

from bjkg.server.core.errors import forbidden, unauthorized
from bjkg.server.web.extension import get_store


def writes_enabled() -> bool:
    return bool(current_app.config.get("UPDATE_TOKEN")) and get_store().writable


def require_write_access(action: str) -> None:
    """Raise 403/401 unless this request may write; `action` names what was attempted."""
    if not writes_enabled():
        raise forbidden(f"{action} is not allowed: this server is read-only. (A writable dataset is "
                        "served by `bjkg serve --empty --update-token TOKEN`.)")
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise unauthorized(f"{action} needs the header 'Authorization: Bearer <token>'.")
    token = current_app.config["UPDATE_TOKEN"]
    if not hmac.compare_digest(credentials.strip().encode("utf-8"), token.encode("utf-8")):
        raise forbidden("The bearer token is not valid for this server.")
