"""JSON API of rooms, threads and posts. ``{room}`` accepts a room's id or slug."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from forum import keys
from forum.db import connection, transaction
from forum.errors import ValidationError
from forum.rooms import service
from forum.web import actor_of, json_ok, parse_uuid, read_json


def room_json(room: service.Room) -> dict[str, Any]:
    return {"id": str(room.id), "slug": room.slug, "kind": room.kind, "name": room.name,
            "description": room.description, "region": room.region_code,
            "parent_id": str(room.parent_id) if room.parent_id else None,
            "confidential": room.confidential, "archived": room.archived,
            "my_role": room.room_role}


def member_json(row: asyncpg.Record) -> dict[str, Any]:
    return {"user_id": str(row["id"]), "display_name": row["display_name"],
            "role": row["role"], "state": (row["state_iso3"] or "").strip() or None,
            "room_role": row["room_role"]}


def thread_json(thread: service.ThreadSummary) -> dict[str, Any]:
    return {"id": str(thread.id), "room_id": str(thread.room_id), "title": thread.title,
            "title_destroyed": thread.title is None, "author": thread.author_name,
            "pinned": thread.pinned, "locked": thread.locked, "post_count": thread.post_count,
            "unread": thread.unread, "created_at": thread.created_at.isoformat(),
            "last_post_at": thread.last_post_at.isoformat()}


def post_json(post: service.PostView) -> dict[str, Any]:
    return {"id": str(post.id), "thread_id": str(post.thread_id), "seq": post.seq,
            "author_id": str(post.author_id) if post.author_id else None,
            "author": post.author_name, "body": post.body, "html": post.html,
            "quote_of": str(post.quote_of) if post.quote_of else None,
            "created_at": post.created_at.isoformat(),
            "edited_at": post.edited_at.isoformat() if post.edited_at else None,
            "deleted": post.deleted, "hidden": post.hidden,
            "hidden_reason": post.hidden_reason if post.hidden else None,
            "destroyed": post.destroyed,
            "revision_count": post.revision_count}


def _int_query(request: web.Request, name: str, default: int, maximum: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    # ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and "٣", and
    # int() refuses strings of more than sys.get_int_max_str_digits() digits.
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(maximum)) \
            or int(digits) > maximum:
        raise ValidationError("'%(name)s' must be an integer between 0 and %(maximum)s",
                              params={"name": name, "maximum": maximum}, field=name,
                              code="query_invalid")
    return int(digits)


async def rooms_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rooms = await service.list_my_rooms(conn, actor)
    return json_ok({"rooms": [{**room_json(room), "thread_count": threads, "unread": unread}
                              for room, threads, unread in rooms]})


async def rooms_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        room = await service.create_room(
            conn, request.app[keys.KEYRING], actor, slug=body.get("slug"),
            kind=body.get("kind"), name=body.get("name"),
            description=body.get("description", ""), region=body.get("region"),
            parent=body.get("parent"))
    return json_ok(room_json(room), status=201)


async def room_show(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        room = await service.get_room(conn, actor, request.match_info["room"])
    return json_ok(room_json(room))


async def members_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        _room, members = await service.list_members(conn, actor, request.match_info["room"])
    return json_ok({"members": [member_json(row) for row in members]})


async def member_put(request: web.Request) -> web.Response:
    actor = actor_of(request)
    user_id = parse_uuid(request.match_info["user_id"])
    body = await read_json(request) if request.body_exists else {}
    room_role = body.get("room_role", "member")
    if not isinstance(room_role, str):
        raise ValidationError("room_role must be a string", field="room_role")
    async with transaction(request.app[keys.POOL]) as conn:
        changed = await service.add_member(conn, request.app[keys.KEYRING], actor,
                                           request.match_info["room"], user_id, room_role)
    return json_ok({"user_id": str(user_id), "room_role": room_role},
                   status=201 if changed else 200)


async def member_delete(request: web.Request) -> web.Response:
    actor = actor_of(request)
    user_id = parse_uuid(request.match_info["user_id"])
    async with transaction(request.app[keys.POOL]) as conn:
        await service.remove_member(conn, request.app[keys.KEYRING], actor,
                                    request.match_info["room"], user_id)
    return web.Response(status=204)


async def threads_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    limit = _int_query(request, "limit", service.THREADS_PER_PAGE, 100)
    async with connection(request.app[keys.POOL]) as conn:  # reads only: no transaction
        _room, threads, cursor = await service.list_threads(
            conn, request.app[keys.KEYSTORE], actor, request.match_info["room"],
            after=request.query.get("after"), limit=limit or service.THREADS_PER_PAGE)
    return json_ok({"threads": [thread_json(t) for t in threads], "next": cursor})


async def threads_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    body = await read_json(request)
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        thread_id, _post_id = await service.create_thread(
            conn, app[keys.KEYSTORE], app[keys.SETTINGS], actor, request.match_info["room"],
            title=body.get("title"), body=body.get("body"))
        page = await service.get_thread_page(conn, app[keys.KEYSTORE], actor, thread_id,
                                             with_body=True)
    return json_ok({**thread_json(page.thread), "posts": [post_json(p) for p in page.posts]},
                   status=201)


async def thread_show(request: web.Request) -> web.Response:
    actor = actor_of(request)
    thread_id = parse_uuid(request.match_info["thread"])
    async with connection(request.app[keys.POOL]) as conn:  # reads only: no transaction
        page = await service.get_thread_page(conn, request.app[keys.KEYSTORE], actor,
                                             thread_id, limit=1, mark_read=False)
    return json_ok({**thread_json(page.thread), "room": room_json(page.room)})


async def posts_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    thread_id = parse_uuid(request.match_info["thread"])
    after = _int_query(request, "after", 0, 2**31 - 1)
    limit = _int_query(request, "limit", service.POSTS_PER_PAGE, 100)
    # Reads, and at most one standalone write (the read position): no transaction needed.
    async with connection(request.app[keys.POOL]) as conn:
        page = await service.get_thread_page(conn, request.app[keys.KEYSTORE], actor,
                                             thread_id, after_seq=after,
                                             limit=limit or service.POSTS_PER_PAGE,
                                             with_body=True)
    return json_ok({"posts": [post_json(p) for p in page.posts], "next": page.next_after})


async def posts_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    thread_id = parse_uuid(request.match_info["thread"])
    body = await read_json(request)
    app = request.app
    async with transaction(app[keys.POOL]) as conn:
        post_id = await service.create_post(conn, app[keys.KEYSTORE], app[keys.SETTINGS], actor,
                                            thread_id, body=body.get("body"),
                                            quote_of=body.get("quote_of"))
        post = await service.get_post(conn, app[keys.KEYSTORE], actor, post_id)
    return json_ok(post_json(post), status=201)


async def post_patch(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        post = await service.edit_post(conn, request.app[keys.KEYSTORE], actor, post_id,
                                       body=body.get("body"))
    return json_ok(post_json(post))


async def post_delete(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    async with transaction(request.app[keys.POOL]) as conn:
        await service.delete_post(conn, request.app[keys.KEYRING], actor, post_id)
    return web.Response(status=204)


async def revisions_list(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    async with transaction(request.app[keys.POOL]) as conn:
        revisions = await service.list_revisions(conn, request.app[keys.KEYSTORE], actor,
                                                 post_id)
    return json_ok({"revisions": [
        {"revision": r.revision, "body": r.body, "editor": r.editor_name,
         "created_at": r.created_at.isoformat()} for r in revisions]})


async def flags_create(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    body = await read_json(request)
    async with transaction(request.app[keys.POOL]) as conn:
        created = await service.flag_post(conn, request.app[keys.KEYSTORE],
                                          request.app[keys.SETTINGS], actor, post_id,
                                          reason=body.get("reason"), note=body.get("note"))
    return json_ok({"flagged": True, "new": created}, status=201 if created else 200)


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/v1/rooms", rooms_list, name="api.rooms_list")
    r.add_post("/api/v1/rooms", rooms_create, name="api.rooms_create")
    r.add_get("/api/v1/rooms/{room}", room_show, name="api.room_show")
    r.add_get("/api/v1/rooms/{room}/members", members_list, name="api.members_list")
    r.add_put("/api/v1/rooms/{room}/members/{user_id}", member_put, name="api.member_put")
    r.add_delete("/api/v1/rooms/{room}/members/{user_id}", member_delete,
                 name="api.member_delete")
    r.add_get("/api/v1/rooms/{room}/threads", threads_list, name="api.threads_list")
    r.add_post("/api/v1/rooms/{room}/threads", threads_create, name="api.threads_create")
    r.add_get("/api/v1/threads/{thread}", thread_show, name="api.thread_show")
    r.add_get("/api/v1/threads/{thread}/posts", posts_list, name="api.posts_list")
    r.add_post("/api/v1/threads/{thread}/posts", posts_create, name="api.posts_create")
    r.add_patch("/api/v1/posts/{post}", post_patch, name="api.post_patch")
    r.add_delete("/api/v1/posts/{post}", post_delete, name="api.post_delete")
    r.add_get("/api/v1/posts/{post}/revisions", revisions_list, name="api.revisions_list")
    r.add_post("/api/v1/posts/{post}/flags", flags_create, name="api.flags_create")
