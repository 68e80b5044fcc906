"""The bare limit: a minimal aiohttp + asyncpg app on the same database server as the forum.

    python bench/baseline_app.py --port P --database-url URL [--host H] [--loop auto|asyncio|uvloop]

Three routes, each the least an aiohttp + asyncpg app can do for that kind of request:

    GET  /json          a small JSON answer (no database)
    GET  /select?thread=<uuid>
                        SELECT of 20 post rows of one thread (the ``posts`` table the forum
                        reads, same index) as JSON; the sealed ``html`` column is sent as base64
                        so the answer is about as large as the forum's
    POST /insert        reads a JSON body ``{"thread": uuid, "body": str}`` and INSERTs one row
                        in a transaction (a table of its own, shaped like ``posts``)

No sessions, templates, access checks or encryption: the forum's figures are reported as a
ratio to these. Same pool size as the forum's default (2..10 connections) and the same event
loop as ``dief serve`` (uvloop when installed, unless ``--loop`` says otherwise), so a ratio
measures our code, not the loop. Started by ``bench/run.py`` as its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import sys
import uuid
from typing import Any

import asyncpg
from aiohttp import web

POOL = web.AppKey("pool", asyncpg.Pool)

SELECT_20 = ("SELECT id, thread_id, author_id, seq, created_at, html FROM posts "
             "WHERE thread_id = $1 ORDER BY seq LIMIT 20")
CREATE_TABLE = ("CREATE TABLE IF NOT EXISTS bench_baseline_posts (id uuid PRIMARY KEY, "
                "thread_id uuid NOT NULL, body bytea NOT NULL, "
                "created_at timestamptz NOT NULL DEFAULT now())")
INSERT_1 = "INSERT INTO bench_baseline_posts (id, thread_id, body) VALUES ($1, $2, $3)"


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)


async def small_json(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": "baseline"})


async def select_20(request: web.Request) -> web.Response:
    try:
        thread_id = uuid.UUID(request.query.get("thread", ""))
    except ValueError:
        raise web.HTTPNotFound() from None
    async with request.app[POOL].acquire() as conn:
        rows = await conn.fetch(SELECT_20, thread_id)
    return web.json_response({"posts": [
        {"id": str(r["id"]), "thread_id": str(r["thread_id"]), "author_id": str(r["author_id"]),
         "seq": r["seq"], "created_at": r["created_at"].isoformat(),
         "html": base64.b64encode(r["html"]).decode("ascii")} for r in rows]}, dumps=_dumps)


async def insert_1(request: web.Request) -> web.Response:
    data = await request.json()
    thread_id = uuid.UUID(data["thread"])
    row_id = uuid.uuid4()
    async with request.app[POOL].acquire() as conn, conn.transaction():
        await conn.execute(INSERT_1, row_id, thread_id, data["body"].encode())
    return web.json_response({"id": str(row_id)}, status=201)


def create_app(database_url: str) -> web.Application:
    app = web.Application()

    async def pool_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        pool = await asyncpg.create_pool(database_url, min_size=2, max_size=10)
        assert pool is not None
        async with pool.acquire() as conn:
            await conn.execute(CREATE_TABLE)
        app[POOL] = pool
        yield
        await pool.close()

    app.cleanup_ctx.append(pool_ctx)
    app.router.add_get("/json", small_json)
    app.router.add_get("/select", select_20)
    app.router.add_post("/insert", insert_1)
    return app


async def serve(host: str, port: int, database_url: str) -> None:
    runner = web.AppRunner(create_app(database_url), access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    print(f"baseline serving on http://{host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto")
    args = parser.parse_args(argv)
    coroutine = serve(args.host, args.port, args.database_url)
    if args.loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if args.loop == "uvloop":
                print("uvloop is not installed", file=sys.stderr)
                return 2
        else:
            uvloop.run(coroutine)
            return 0
    asyncio.run(coroutine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
