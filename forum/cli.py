"""``dief``: the operator's command line.

    dief serve [--host H] [--port P] [--workers N] [--loop auto|asyncio|uvloop] [--no-migrate]
               [--with-demo]
    dief migrate
    dief user add EMAIL --role ROLE [--state ISO3] [--name NAME] --password-stdin [--with-totp]
    dief user disable|enable EMAIL
    dief invite EMAIL --role ROLE [--state ISO3]
    dief room add SLUG --kind KIND --name NAME [--region R] [--description D] [--parent P]
    dief room list | archive SLUG
    dief room member add SLUG EMAIL [--facilitator] | dief room member remove SLUG EMAIL
    dief demo
    dief cases release
    dief keys status | rotate (--scope S | --all) [--resume] | rewrap | destroy --scope S [--yes]
    dief audit verify [--head SEQ:MAC]
    dief audit head

Every command reads the same ``DIEF_*`` settings as the server. Exit status: 0 success,
1 a domain error (message on stderr), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from crypto.masterkey import KeyFileError
from crypto.passwords import Argon2Params
from forum import db, logconfig
from forum.auth import service as auth
from forum.auth.passwords import PasswordService
from forum.errors import DomainError
from forum.keyring import KeyRing, load_keyring
from forum.keystore.rotation import UnknownScopeError
from forum.keystore.service import KeyStore
from forum.migrate import MigrationError, migrate, pending_migrations
from forum.settings import Settings, SettingsError

log = logging.getLogger("dief")


@dataclass
class Operator:
    settings: Settings
    keyring: KeyRing
    pool: asyncpg.Pool
    passwords: PasswordService
    store: KeyStore


@asynccontextmanager
async def operator_context(settings: Settings, *, apply_migrations: bool = True
                           ) -> AsyncIterator[Operator]:
    keyring = load_keyring(settings)  # a bad key file stops us before touching the database
    url = await db.resolve_database_url(settings)
    conn = await asyncpg.connect(url)
    try:
        if apply_migrations:
            await migrate(conn)
        elif await pending_migrations(conn):
            raise MigrationError("migrations are pending: run `dief migrate` first")
    finally:
        await conn.close()
    pool = await db.create_pool(url, settings.replace(pool_min=1, pool_max=2))
    passwords = PasswordService(Argon2Params(settings.argon2_time_cost,
                                             settings.argon2_memory_kib,
                                             settings.argon2_parallelism), None, 1)
    try:
        yield Operator(settings, keyring, pool, passwords,
                       keyring.store)
    finally:
        await pool.close()


async def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    url = await db.resolve_database_url(settings)
    conn = await asyncpg.connect(url)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else
                                                     "; the schema is current"))
    return 0


async def cmd_user_add(settings: Settings, args: argparse.Namespace) -> int:
    if not args.password_stdin:
        print("error: pass the password on standard input with --password-stdin "
              "(never as an argument: it would show in the process list)", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    async with operator_context(settings) as op, db.transaction(op.pool) as conn:
        user_id = await auth.create_user(
            conn, op.passwords, op.keyring, email=args.email,
            display_name=args.name or args.email.split("@")[0], role=args.role,
            state=args.state, password=password, created_by=None)
        print(f"created {args.email.lower()} ({args.role}) id={user_id}")
        if args.with_totp:
            uri, codes = await auth.enrol_totp_directly(conn, op.keyring, user_id)
            print(f"totp: {uri}")
            print("recovery codes: " + " ".join(codes))
    return 0


async def cmd_user_disable(settings: Settings, args: argparse.Namespace) -> int:
    async with operator_context(settings) as op, db.transaction(op.pool) as conn:
        row = await auth.get_user_by_email(conn, args.email)
        await auth.set_disabled(conn, op.keyring, None, row["id"], args.action == "disable")
    print(f"{args.email.lower()} {args.action}d")
    return 0


async def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    async with operator_context(settings) as op, db.transaction(op.pool) as conn:
        invitation, token = await auth.invite(conn, op.keyring, settings, None,
                                              email=args.email, role=args.role,
                                              state=args.state)
    print(f"{settings.base_url}/invitations/{token}")
    print(f"(single use, for {invitation.email} as {invitation.role}, expires "
          f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC)", file=sys.stderr)
    return 0


async def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from forum import demo

    async with operator_context(settings) as op:
        created = await demo.load(op)
    print(demo.instructions(settings, created))
    return 0


async def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    from forum.audit import service as audit

    async with operator_context(settings, apply_migrations=False) as op, \
            db.transaction(op.pool) as conn:
        if args.action == "head":
            print(await audit.head(conn))
            return 0
        result = await audit.verify(conn, op.keyring.audit_keys(), args.head)
    if result.ok:
        print(f"audit chain OK: {result.checked} entries, head {result.head_seq}:"
              f"{result.head_mac}")
        return 0
    if result.bad_seq is None:  # the --head argument itself is malformed
        print(f"error: {result.problem}", file=sys.stderr)
        return 2
    print(f"AUDIT CHAIN BROKEN at entry {result.bad_seq}: {result.problem} "
          f"({result.checked} entries verified before it)", file=sys.stderr)
    return 1


async def cmd_room(settings: Settings, args: argparse.Namespace) -> int:
    from forum.rooms import service as rooms

    async with operator_context(settings) as op, db.transaction(op.pool) as conn:
        if args.action == "add":
            room = await rooms.create_room(conn, op.keyring, None, slug=args.slug,
                                           kind=args.kind, name=args.name,
                                           description=args.description or "",
                                           region=args.region, parent=args.parent)
            print(f"created room {room.slug} ({room.kind}) id={room.id}")
        elif args.action == "archive":
            await rooms.set_archived(conn, op.keyring, None, args.slug, True)
            print(f"archived {args.slug}")
        elif args.action == "list":
            for row in await rooms.list_all_rooms(conn, None):
                state = " archived" if row["archived_at"] else ""
                print(f"{row['slug']:32} {row['kind']:14} {row['member_count']:5} members"
                      f"{state}  {row['name']}")
        else:
            user = await auth.get_user_by_email(conn, args.email)
            if args.member_action == "add":
                role = "facilitator" if args.facilitator else "member"
                changed = await rooms.add_member(conn, op.keyring, None, args.slug, user["id"],
                                                 role)
                print(f"{user['email']} {'added to' if changed else 'already in'} {args.slug}")
            else:
                await rooms.remove_member(conn, op.keyring, None, args.slug, user["id"])
                print(f"{user['email']} removed from {args.slug}")
    return 0


async def cmd_keys(settings: Settings, args: argparse.Namespace) -> int:
    from forum.keystore import rotation
    from forum.progress import ProgressBar

    async with operator_context(settings) as op:
        if args.action == "status":
            async with db.transaction(op.pool) as conn:
                rows = await rotation.status(conn)
            print(f"{'scope':45} {'key id':36} {'state':9} {'rows':>8}  kek")
            for key in rows:
                print(f"{key.scope:45} {key.id!s:36} {key.state:9} {key.rows:>8}  {key.kek_id}")
            print(f"{len(rows)} data key(s); current master key {op.keyring.master.key_id}")
            return 0
        if args.action == "rotate":
            if not args.all and not args.scope:
                print("error: name a --scope or pass --all", file=sys.stderr)
                return 2
            async with db.transaction(op.pool) as conn:
                pending = sum(k.rows for k in await rotation.status(conn)
                              if k.state != "destroyed" and (args.all or k.scope == args.scope))
            bar = ProgressBar("re-encrypting", pending)
            moved = await rotation.rotate(op.pool, op.keyring, None if args.all else args.scope,
                                          progress=bar.advance, retire=not args.resume)
            bar.finish()
            print(f"rotated; {moved} value(s) re-encrypted under the new key(s)")
            return 0
        if args.action == "rewrap":
            bar = ProgressBar("re-wrapping data keys", None)
            count = await rotation.rewrap(op.pool, op.keyring, progress=bar.advance)
            bar.finish()
            print(f"{count} data key(s) re-wrapped under master key {op.keyring.master.key_id}")
            return 0
        # destroy
        if not args.yes:
            print(f"This destroys every data key of {args.scope}: its encrypted content becomes "
                  "unreadable for ever, on every instance and in every backup made from now "
                  f"on.\nType the scope ({args.scope}) to confirm: ", end="", file=sys.stderr,
                  flush=True)
            if sys.stdin.readline().strip() != args.scope:
                print("not confirmed; nothing destroyed", file=sys.stderr)
                return 1
        count = await rotation.destroy_scope(op.pool, op.keyring, args.scope)
        print(f"destroyed {count} data key(s) of {args.scope}")
        return 0


async def cmd_cases(settings: Settings, args: argparse.Namespace) -> int:
    from moderation.queue import service as queue

    async with operator_context(settings) as op, db.transaction(op.pool) as conn:
        result = await queue.release_batch(conn, op.keyring)
    print(f"released {result.cases} new case(s) and {result.answers} answer(s) to the "
          "moderators' queue")
    return 0


async def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from forum import server

    settings = settings.serving_on(args.host or settings.host, args.port or settings.port)
    if args.with_demo:
        settings = settings.replace(demo=True)
    return await server.serve(settings, migrate_first=not args.no_migrate,
                              load_demo=args.with_demo, workers=args.workers, loop=args.loop)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError("expected a number from 1 to 64")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dief", description="DIEF Forum operator commands")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the web application")
    serve.add_argument("--host", help="bind address (default DIEF_HOST)")
    serve.add_argument("--port", type=int, help="port (default DIEF_PORT)")
    serve.add_argument("--workers", type=_positive, default=1,
                       help="processes sharing the port through SO_REUSEPORT (default 1; "
                            "about one per CPU core)")
    serve.add_argument("--loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                       help="event loop: uvloop when installed (auto, the default; "
                            "pip install 'dief-forum[speed]'), or asyncio's own")
    serve.add_argument("--no-migrate", action="store_true",
                       help="refuse to start while migrations are pending instead of applying")
    serve.add_argument("--with-demo", action="store_true",
                       help="load demo data into an empty database and enable demo mode")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply pending migrations").set_defaults(func=cmd_migrate)

    user = sub.add_parser("user", help="manage accounts")
    user_sub = user.add_subparsers(dest="action", required=True)
    add = user_sub.add_parser("add", help="create an account")
    add.add_argument("email")
    add.add_argument("--role", required=True, choices=auth.ROLES)
    add.add_argument("--state", help="ISO 3166-1 alpha-3 code (required for delegates)")
    add.add_argument("--name", help="display name (default: the email's local part)")
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from the first line of standard input")
    add.add_argument("--with-totp", action="store_true",
                     help="enrol a second factor and print its otpauth:// URI once")
    add.set_defaults(func=cmd_user_add)
    for action in ("disable", "enable"):
        toggle = user_sub.add_parser(action, help=f"{action} an account")
        toggle.add_argument("email")
        toggle.set_defaults(func=cmd_user_disable)

    invite = sub.add_parser("invite", help="create an invitation and print its link")
    invite.add_argument("email")
    invite.add_argument("--role", required=True, choices=auth.ROLES)
    invite.add_argument("--state", help="ISO 3166-1 alpha-3 code (required for delegates)")
    invite.set_defaults(func=cmd_invite)

    room = sub.add_parser("room", help="manage rooms and their members")
    room_sub = room.add_subparsers(dest="action", required=True)
    room_add = room_sub.add_parser("add", help="create a room")
    room_add.add_argument("slug")
    room_add.add_argument("--kind", required=True,
                          choices=("regional", "subregional", "working_group", "workshop",
                                   "plenary"))
    room_add.add_argument("--name", required=True)
    room_add.add_argument("--region", help="region code, e.g. african")
    room_add.add_argument("--description")
    room_add.add_argument("--parent", help="parent working-group room (slug or id)")
    room_add.set_defaults(func=cmd_room)
    room_archive = room_sub.add_parser("archive", help="make a room read-only")
    room_archive.add_argument("slug")
    room_archive.set_defaults(func=cmd_room)
    room_sub.add_parser("list", help="list every room").set_defaults(func=cmd_room)
    member = room_sub.add_parser("member", help="add or remove a member")
    member_sub = member.add_subparsers(dest="member_action", required=True)
    for member_action in ("add", "remove"):
        member_cmd = member_sub.add_parser(member_action, help=f"{member_action} a member")
        member_cmd.add_argument("slug")
        member_cmd.add_argument("email")
        if member_action == "add":
            member_cmd.add_argument("--facilitator", action="store_true",
                                    help="as a facilitator (workshop rooms)")
        member_cmd.set_defaults(func=cmd_room)

    sub.add_parser("demo", help="load demo data (idempotent)").set_defaults(func=cmd_demo)

    cases_cmd = sub.add_parser("cases", help="anonymous cases")
    cases_sub = cases_cmd.add_subparsers(dest="action", required=True)
    cases_sub.add_parser("release", help="release the pending batch to the moderators now"
                         ).set_defaults(func=cmd_cases)

    keys_cmd = sub.add_parser("keys", help="data keys: status, rotation, re-wrap, destruction")
    keys_sub = keys_cmd.add_subparsers(dest="action", required=True)
    keys_sub.add_parser("status", help="keys per scope, rows per key").set_defaults(
        func=cmd_keys)
    rotate = keys_sub.add_parser("rotate", help="new data key(s); re-encrypt existing rows")
    rotate_scope = rotate.add_mutually_exclusive_group()
    rotate_scope.add_argument("--scope", help="e.g. room:<uuid>")
    rotate_scope.add_argument("--all", action="store_true", help="every scope")
    rotate.add_argument("--resume", action="store_true",
                        help="finish an interrupted rotation without retiring keys again")
    rotate.set_defaults(func=cmd_keys)
    keys_sub.add_parser("rewrap", help="re-wrap every data key under the current master key"
                        ).set_defaults(func=cmd_keys)
    destroy = keys_sub.add_parser("destroy", help="crypto-shred a scope (irreversible)")
    destroy.add_argument("--scope", required=True)
    destroy.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    destroy.set_defaults(func=cmd_keys)

    audit = sub.add_parser("audit", help="the tamper-evident audit log")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    verify = audit_sub.add_parser("verify", help="verify the whole chain")
    verify.add_argument("--head", help="a head printed earlier by `dief audit head`")
    verify.set_defaults(func=cmd_audit)
    audit_sub.add_parser("head", help="print the current head").set_defaults(func=cmd_audit)
    return parser


Command = Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]


def _run(coroutine: Coroutine[Any, Any, int], loop: str) -> int:
    """``asyncio.run``, on uvloop when asked (``--loop``) or installed (``auto``, serve only).

    uvloop (libuv) runs the same asyncio code with a faster loop and transports: about a fifth
    less CPU per request on the thread page (docs/performance.md). It is optional.
    """
    if loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if loop == "uvloop":
                coroutine.close()
                raise SettingsError("--loop uvloop: uvloop is not installed "
                                    "(pip install 'dief-forum[speed]')") from None
        else:
            result: int = uvloop.run(coroutine)
            return result
    return asyncio.run(coroutine)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    logconfig.configure(settings.log_format)
    func: Command = args.func
    try:
        return _run(func(settings, args), getattr(args, "loop", "asyncio"))
    except (KeyFileError, MigrationError, SettingsError, UnknownScopeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ConnectionError, TimeoutError, asyncpg.PostgresError,
            asyncpg.InterfaceError) as exc:
        print(f"error: cannot use the database ({type(exc).__name__}: {exc}); check "
              "DIEF_DATABASE_URL", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except DomainError as exc:
        detail = f": {exc.detail}" if exc.detail else ""
        print(f"error: {exc.title}{detail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
