"""HTML pages of rooms, threads and posts. Every page works without JavaScript."""

from __future__ import annotations

import uuid

from aiohttp import web

from forum import keys
from forum.auth import service as auth
from forum.db import connection, transaction
from forum.errors import ConflictError, ForbiddenError, ValidationError
from forum.i18n import gettext as _
from forum.reference import service as reference
from forum.rooms import service
from forum.web import actor_of, form_text, parse_uuid, read_form, redirect, render


def _page_after(seq: int) -> int:
    """The ``after`` value of the thread page that shows post number ``seq``."""
    return ((seq - 1) // service.POSTS_PER_PAGE) * service.POSTS_PER_PAGE


def _thread_url(thread_id: uuid.UUID, seq: int | None = None,
                post_id: uuid.UUID | None = None) -> str:
    url = f"/threads/{thread_id}"
    if seq is not None and _page_after(seq):
        url += f"?after={_page_after(seq)}"
    return url + (f"#post-{post_id}" if post_id else "")


def _after(request: web.Request) -> int:
    text = request.query.get("after", "0")
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # isdigit() alone takes "²"
        raise ValidationError("Invalid page", field="after", code="query_invalid")
    return int(text)


async def rooms_index(request: web.Request) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rooms = await service.list_my_rooms(conn, actor)
    return render(request, "rooms/index.html", {"rooms": rooms})


async def _room_page(request: web.Request, *, error: str | None = None,
                     form: dict[str, str] | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    async with connection(request.app[keys.POOL]) as conn:  # reads only: no transaction
        room, threads, cursor = await service.list_threads(
            conn, request.app[keys.KEYSTORE], actor, request.match_info["room"],
            after=request.query.get("after"))
    return render(request, "rooms/room.html", {
        "room": room, "threads": threads, "next_cursor": cursor,
        "paged": bool(request.query.get("after")), "error": error, "form": form or {},
        "max_title": service.MAX_TITLE, "max_body": service.MAX_BODY}, status=status)


async def room_show(request: web.Request) -> web.Response:
    return await _room_page(request)


async def thread_create(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    app = request.app
    try:
        async with transaction(app[keys.POOL]) as conn:
            thread_id, _post_id = await service.create_thread(
                conn, app[keys.KEYSTORE], app[keys.SETTINGS], actor, request.match_info["room"],
                title=form_text(form, "title"), body=form_text(form, "body"))
    except ValidationError as exc:
        return await _room_page(request, error=exc.localized_title(_), status=exc.status, form={
            "title": form_text(form, "title") or "", "body": form_text(form, "body") or ""})
    redirect(f"/threads/{thread_id}")


async def _thread_page(request: web.Request, *, error: str | None = None,
                       draft: str | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    thread_id = parse_uuid(request.match_info["thread"])
    after = _after(request)
    store = request.app[keys.KEYSTORE]
    # Reads, and at most one standalone write (the read position): no transaction needed.
    async with connection(request.app[keys.POOL]) as conn:
        page = await service.get_thread_page(conn, store, actor, thread_id, after_seq=after)
        quote_id = request.query.get("quote")
        if draft is None and quote_id:
            draft = await service.quote_text(conn, store, actor, parse_uuid(quote_id))
    return render(request, "rooms/thread.html", {
        "page": page, "room": page.room, "thread": page.thread, "posts": page.posts,
        "after": after, "previous_after": max(0, after - service.POSTS_PER_PAGE) if after
        else None, "draft": draft or "", "quote_of": quote_id or "", "error": error,
        "may_moderate": service.is_manager(actor) or page.room.room_role == "facilitator",
        "flag_reasons": service.FLAG_REASONS, "max_body": service.MAX_BODY}, status=status)


async def thread_show(request: web.Request) -> web.Response:
    return await _thread_page(request)


async def post_create(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    thread_id = parse_uuid(request.match_info["thread"])
    form = await read_form(request)
    app = request.app
    try:
        async with transaction(app[keys.POOL]) as conn:
            post_id = await service.create_post(
                conn, app[keys.KEYSTORE], app[keys.SETTINGS], actor, thread_id,
                body=form_text(form, "body"), quote_of=form_text(form, "quote_of") or None)
            post = await service.get_post(conn, app[keys.KEYSTORE], actor, post_id)
    except ValidationError as exc:
        return await _thread_page(request, error=exc.localized_title(_),
                                  draft=form_text(form, "body") or "", status=exc.status)
    redirect(_thread_url(thread_id, post.seq, post_id))


async def thread_state(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    thread_id = parse_uuid(request.match_info["thread"])
    form = await read_form(request)
    async with transaction(request.app[keys.POOL]) as conn:
        await service.set_thread_state(conn, request.app[keys.KEYRING], actor, thread_id,
                                       pinned=form_text(form, "pinned") == "1",
                                       locked=form_text(form, "locked") == "1")
    redirect(f"/threads/{thread_id}")


async def post_edit_form(request: web.Request, *, error: str | None = None,
                         draft: str | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    async with transaction(request.app[keys.POOL]) as conn:
        post = await service.get_post(conn, request.app[keys.KEYSTORE], actor, post_id)
    if post.author_id != actor.user_id:
        raise ForbiddenError("Only the author can edit a post")
    return render(request, "rooms/edit.html", {
        "post": post, "draft": post.body if draft is None else draft, "error": error,
        "max_body": service.MAX_BODY}, status=status)


async def post_edit(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    form = await read_form(request)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            post = await service.edit_post(conn, request.app[keys.KEYSTORE], actor, post_id,
                                           body=form_text(form, "body"))
    except ValidationError as exc:
        return await post_edit_form(request, error=exc.localized_title(_),
                                    draft=form_text(form, "body") or "", status=exc.status)
    redirect(_thread_url(post.thread_id, post.seq, post.id))


async def post_history(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    store = request.app[keys.KEYSTORE]
    async with transaction(request.app[keys.POOL]) as conn:
        post = await service.get_post(conn, store, actor, post_id)
        revisions = await service.list_revisions(conn, store, actor, post_id)
    return render(request, "rooms/history.html", {"post": post, "revisions": revisions})


async def post_delete(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    async with transaction(request.app[keys.POOL]) as conn:
        post = await service.get_post(conn, request.app[keys.KEYSTORE], actor, post_id)
        await service.delete_post(conn, request.app[keys.KEYRING], actor, post_id)
    redirect(_thread_url(post.thread_id, post.seq, post.id))


async def post_flag_form(request: web.Request, *, error: str | None = None,
                         form: dict[str, str] | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    async with transaction(request.app[keys.POOL]) as conn:
        post = await service.get_post(conn, request.app[keys.KEYSTORE], actor, post_id)
    return render(request, "rooms/flag.html", {
        "post": post, "reasons": service.FLAG_REASON_LABELS, "error": error, "done": False,
        "form": form or {}}, status=status)


async def post_flag(request: web.Request) -> web.Response:
    actor = actor_of(request)
    post_id = parse_uuid(request.match_info["post"])
    form = await read_form(request)
    store = request.app[keys.KEYSTORE]
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            await service.flag_post(conn, store, request.app[keys.SETTINGS], actor, post_id,
                                    reason=form_text(form, "reason"),
                                    note=form_text(form, "note"))
            post = await service.get_post(conn, store, actor, post_id)
    except ValidationError as exc:
        return await post_flag_form(request, error=exc.localized_title(_), status=exc.status,
                                    form={"reason": form_text(form, "reason") or "",
                                          "note": form_text(form, "note") or ""})
    return render(request, "rooms/flag.html", {"post": post,
                                               "reasons": service.FLAG_REASON_LABELS,
                                               "error": None, "done": True, "form": {}})


async def _members_page(request: web.Request, *, error: str | None = None,
                        form: dict[str, str] | None = None, status: int = 200) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        room, members = await service.list_members(conn, actor, request.match_info["room"])
    may_manage = service.is_manager(actor) or (room.kind == "workshop"
                                               and room.room_role == "facilitator")
    return render(request, "rooms/members.html", {
        "room": room, "members": members, "may_manage": may_manage, "error": error,
        "form": form or {}}, status=status)


async def members_show(request: web.Request) -> web.Response:
    return await _members_page(request)


async def member_add(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    ref = request.match_info["room"]
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            user = await auth.get_user_by_email(conn, form_text(form, "email") or "")
            await service.add_member(conn, request.app[keys.KEYRING], actor, ref, user["id"],
                                     form_text(form, "room_role") or "member")
    except (ValidationError, ConflictError) as exc:
        return await _members_page(request, error=exc.localized_title(_), status=exc.status,
                                  form={"email": form_text(form, "email") or "",
                                        "room_role": form_text(form, "room_role") or ""})
    redirect(f"/rooms/{ref}/members")


async def member_remove(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    ref = request.match_info["room"]
    user_id = parse_uuid(request.match_info["user_id"])
    async with transaction(request.app[keys.POOL]) as conn:
        await service.remove_member(conn, request.app[keys.KEYRING], actor, ref, user_id)
    redirect(f"/rooms/{ref}/members")


async def _admin_rooms_page(request: web.Request, *, error: str | None = None,
                            form: dict[str, str] | None = None,
                            status: int = 200) -> web.Response:
    actor = actor_of(request)
    async with transaction(request.app[keys.POOL]) as conn:
        rooms = await service.list_all_rooms(conn, actor)
        regions = await reference.list_regions(conn)
    return render(request, "rooms/admin.html", {"rooms": rooms, "regions": regions,
                                                "kinds": service.KINDS, "error": error,
                                                "form": form or {}}, status=status)


async def admin_rooms(request: web.Request) -> web.Response:
    return await _admin_rooms_page(request)


async def admin_room_create(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    try:
        async with transaction(request.app[keys.POOL]) as conn:
            room = await service.create_room(
                conn, request.app[keys.KEYRING], actor, slug=form_text(form, "slug"),
                kind=form_text(form, "kind"), name=form_text(form, "name"),
                description=form_text(form, "description") or "",
                region=form_text(form, "region") or None)
    except (ValidationError, ConflictError) as exc:
        return await _admin_rooms_page(
            request, error=exc.localized_title(_), status=exc.status, form={
                name: form_text(form, name) or ""
                for name in ("slug", "kind", "name", "description", "region")})
    redirect(f"/rooms/{room.slug}/members")


async def admin_room_archive(request: web.Request) -> web.StreamResponse:
    actor = actor_of(request)
    form = await read_form(request)
    async with transaction(request.app[keys.POOL]) as conn:
        await service.set_archived(conn, request.app[keys.KEYRING], actor,
                                   request.match_info["room"],
                                   form_text(form, "archived") == "1")
    redirect("/admin/rooms")


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/rooms", rooms_index, name="rooms.index")
    r.add_get("/rooms/{room}", room_show, name="rooms.show")
    r.add_post("/rooms/{room}/threads", thread_create, name="rooms.thread_create")
    r.add_get("/rooms/{room}/members", members_show, name="rooms.members")
    r.add_post("/rooms/{room}/members", member_add, name="rooms.member_add")
    r.add_post("/rooms/{room}/members/{user_id}/remove", member_remove,
               name="rooms.member_remove")
    r.add_get("/threads/{thread}", thread_show, name="rooms.thread")
    r.add_post("/threads/{thread}/posts", post_create, name="rooms.post_create")
    r.add_post("/threads/{thread}/state", thread_state, name="rooms.thread_state")
    r.add_get("/posts/{post}/edit", post_edit_form, name="rooms.post_edit_form")
    r.add_post("/posts/{post}/edit", post_edit, name="rooms.post_edit")
    r.add_get("/posts/{post}/history", post_history, name="rooms.post_history")
    r.add_post("/posts/{post}/delete", post_delete, name="rooms.post_delete")
    r.add_get("/posts/{post}/flag", post_flag_form, name="rooms.post_flag_form")
    r.add_post("/posts/{post}/flag", post_flag, name="rooms.post_flag")
    r.add_get("/admin/rooms", admin_rooms, name="admin.rooms")
    r.add_post("/admin/rooms", admin_room_create, name="admin.room_create")
    r.add_post("/admin/rooms/{room}/archive", admin_room_archive, name="admin.room_archive")
