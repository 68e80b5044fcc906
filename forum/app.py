"""``create_app(settings)``: the only place where the application is wired together."""

from __future__ import annotations

import concurrent.futures
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
from aiohttp import web

from crypto.passwords import Argon2Params
from forum import db, health, keys, middlewares, templating
from forum.auth import api as auth_api
from forum.auth import views as auth_views
from forum.auth.passwords import PasswordService, lower_thread_priority
from forum.cases import api as cases_api
from forum.cases import views as cases_views
from forum.errors import ERROR_PAGE_RENDERER, error_middleware
from forum.i18n import Catalogs
from forum.keyring import load_keyring
from forum.keystore.listener import listen_for_destroyed_keys
from forum.rooms import api as rooms_api
from forum.rooms import views as rooms_views
from forum.settings import Settings
from moderation.curation import api as curation_api
from moderation.curation import views as curation_views
from moderation.queue import api as moderation_api
from moderation.queue import views as moderation_views
from moderation.queue.batches import batch_releases

STATIC_DIR = Path(__file__).resolve().parent / "static"


def create_app(settings: Settings, *, database_url: str | None = None) -> web.Application:
    """Build the application. ``database_url`` overrides settings (tests use a fresh database)."""
    app = web.Application(
        middlewares=[
            middlewares.request_id_middleware,
            error_middleware,
            middlewares.session_middleware,
            middlewares.csrf_middleware,
        ],
        client_max_size=settings.max_body_bytes,
        handler_args={"max_field_size": 16 * 1024, "max_line_size": 16 * 1024},
    )
    app[keys.SETTINGS] = settings
    keyring = load_keyring(settings)
    app[keys.KEYRING] = keyring
    app[keys.KEYSTORE] = keyring.store
    app[keys.TEMPLATES] = templating.create_environment()
    app[keys.CATALOGS] = Catalogs(settings.languages)
    app[ERROR_PAGE_RENDERER] = templating.render_error_page
    app.on_response_prepare.append(middlewares.add_security_headers)
    app.cleanup_ctx.append(_database_ctx(settings, database_url))
    app.cleanup_ctx.append(_passwords_ctx(settings))

    health.setup_routes(app)
    auth_views.setup_routes(app)
    auth_api.setup_routes(app)
    rooms_views.setup_routes(app)
    rooms_api.setup_routes(app)
    cases_views.setup_routes(app)
    cases_api.setup_routes(app)
    moderation_views.setup_routes(app)
    moderation_api.setup_routes(app)
    curation_views.setup_routes(app)
    curation_api.setup_routes(app)
    app.router.add_static("/static/", STATIC_DIR, name="static", append_version=True)
    return app


def _database_ctx(settings: Settings, database_url: str | None):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        url = database_url or await db.resolve_database_url(settings)
        pool: asyncpg.Pool = await db.create_pool(url, settings)
        app[keys.POOL] = pool
        try:
            async with listen_for_destroyed_keys(url, app[keys.KEYSTORE]), batch_releases(
                    pool, app[keys.KEYRING], settings.case_batch_hours):
                yield
        finally:
            await pool.close()

    return ctx


def _passwords_ctx(settings: Settings):  # type: ignore[no-untyped-def]
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        # A dedicated thread pool sized to the hash bound: argon2 releases the GIL, so hashes
        # run truly in parallel without starving the default executor.
        executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.max_concurrent_hashes, thread_name_prefix="argon2",
            initializer=lower_thread_priority)
        service = PasswordService(
            Argon2Params(settings.argon2_time_cost, settings.argon2_memory_kib,
                         settings.argon2_parallelism),
            executor, settings.max_concurrent_hashes)
        app[keys.HASHER] = service
        # Unknown emails are checked against this hash so they cost the same time.
        app[keys.DUMMY_HASH] = await service.hash("dummy password that matches nothing")
        try:
            yield
        finally:
            executor.shutdown(wait=False, cancel_futures=True)

    return ctx
