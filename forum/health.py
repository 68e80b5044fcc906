"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from forum import keys
from forum.db import transaction
from forum.migrate import MigrationError, pending_migrations

log = logging.getLogger(__name__)


async def live(request: web.Request) -> web.Response:
    """The process answers: nothing else is checked (a database outage must not restart us)."""
    return web.json_response({"status": "ok"})


async def ready(request: web.Request) -> web.Response:
    """Ready when the database answers within 2 s and every migration has been applied."""
    pool = request.app[keys.POOL]
    try:
        async with asyncio.timeout(2):
            async with transaction(pool) as conn:
                pending = await pending_migrations(conn)
    except (OSError, TimeoutError, MigrationError) as exc:
        log.warning("not ready: %s", type(exc).__name__)
        return web.json_response({"status": "unavailable", "database": "error"}, status=503)
    except Exception:
        log.exception("readiness check failed")
        return web.json_response({"status": "unavailable", "database": "error"}, status=503)
    if pending:
        return web.json_response({"status": "unavailable", "database": "ok",
                                  "pending_migrations": [m.filename for m in pending]},
                                 status=503)
    return web.json_response({"status": "ok", "database": "ok"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", live, name="health.live")
    app.router.add_get("/readyz", ready, name="health.ready")
