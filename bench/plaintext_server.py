"""BENCHMARK ONLY: ``dief serve`` / bench seeding with field encryption optionally bypassed.

    python bench/plaintext_server.py [--bypass-encryption] serve --host H --port P
    python bench/plaintext_server.py [--bypass-encryption] seed      # prints one JSON line

Used by ``bench/crypto_overhead.py`` to compare the same page with and without AES-GCM. Both
modes run through this launcher so that they differ in exactly one thing.

What ``--bypass-encryption`` does
    It replaces ``crypto.envelope.seal`` and ``crypto.envelope.open_`` *in this process only*
    (before ``forum.cli.main`` runs) with functions that keep the stored format — version
    byte, data-key id, a 12-byte nonce slot, the value, a 16-byte tag slot — so parsing, key
    lookup (``peek_key_id``, the data-key cache, unwrapping) and the rest of the service are
    unchanged; only AES-GCM (and the nonce from ``os.urandom``) is skipped, and the "ciphertext"
    is the plaintext. ``seal_text``/``open_text`` and every service call go through these two
    module attributes, so nothing else needs patching.

Why it can never be a production setting
    There is no setting, environment variable or code path in ``forum/`` or ``crypto/`` for
    it: the switch exists only as this file's command-line flag, in the ``bench/`` directory,
    which is not part of the installed package. The launcher also refuses to bypass unless
    the database is a throw-away embedded one (``DIEF_DATABASE_URL`` unset, ``DIEF_DATA_DIR``
    under the system temporary directory), so plaintext posing as ciphertext can never be
    written to a real database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/plaintext_server.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BENCH_EMAIL = "crypto-bench@example.org"
BENCH_PASSWORD = "amber canal pilot orchard 2231"  # noqa: S105 (bench account only)
POSTS = 20
# Bytes of every post that must be visible on the page: proves the text was really opened.
CHECK_PREFIX = "bench-check-"


def install_bypass() -> None:
    """Replace AES-GCM in ``crypto.envelope`` by a format-preserving identity (see above)."""
    data_dir = Path(os.environ.get("DIEF_DATA_DIR", "var")).resolve()
    temp = Path(tempfile.gettempdir()).resolve()
    if os.environ.get("DIEF_DATABASE_URL") or not data_dir.is_relative_to(temp):
        raise SystemExit("refusing to bypass encryption outside a throw-away embedded database "
                         f"(DIEF_DATABASE_URL must be unset and DIEF_DATA_DIR under {temp})")
    from crypto import envelope
    from crypto.keys import DataKey

    def seal(dek: DataKey, plaintext: bytes, *, aad: bytes) -> bytes:
        if not aad:
            raise ValueError("aad must bind the value to its place; use aad_for()")
        return (bytes([envelope.VERSION]) + dek.id.bytes + bytes(envelope.NONCE_BYTES)
                + plaintext + bytes(envelope.TAG_BYTES))

    def open_(lookup: envelope.KeyLookup, blob: bytes, *, aad: bytes) -> bytes:
        dek_id = envelope.peek_key_id(blob)  # the same parsing and checks as the real one
        try:
            dek = lookup(dek_id)
        except KeyError:
            raise envelope.DecryptError(f"unknown data key {dek_id}") from None
        if dek.id != dek_id:
            raise envelope.DecryptError(f"key lookup for {dek_id} returned data key {dek.id}")
        return bytes(blob[envelope.HEADER_BYTES:-envelope.TAG_BYTES])

    envelope.seal = seal
    envelope.open_ = open_


def post_body(number: int) -> str:
    """A realistic post: a few paragraphs of Markdown, a list, a link, ~700 characters."""
    return (
        f"**Update {number}** on the shipment discussed above. {CHECK_PREFIX}{number:02d}\n\n"
        "The end-user certificate was presented at the port of entry, but the quantities on "
        "the manifest did not match the licence: *three* crates more than declared. Customs "
        "held the consignment and asked the exporting State for confirmation.\n\n"
        "- licence number cross-checked with the national register\n"
        "- the broker is also named in an earlier case from the same region\n"
        "- transit through a free-trade zone, no re-export authorisation\n\n"
        "See the [summary of practices](https://example.org/practices) and the annex of the "
        "working paper. We would welcome views from other delegations on whether this "
        "pattern matches what they have seen, and on the information they can share.\n")


async def seed() -> dict[str, str]:
    """A workshop room with one member and a 20-post thread, built through the services."""
    from urllib.parse import parse_qs, urlsplit

    from forum import db
    from forum.auth import service as auth
    from forum.cli import operator_context
    from forum.rooms import service as rooms
    from forum.settings import Settings

    settings = Settings.from_env(os.environ)
    async with operator_context(settings) as op:
        async with db.transaction(op.pool) as conn:
            user_id = await auth.create_user(
                conn, op.passwords, op.keyring, email=BENCH_EMAIL, display_name="Bench Reader",
                role="delegate", state="FRA", password=BENCH_PASSWORD, created_by=None)
            uri, _codes = await auth.enrol_totp_directly(conn, op.keyring, user_id)
            room = await rooms.create_room(conn, op.keyring, None, slug="crypto-bench",
                                           kind="workshop", name="Crypto overhead bench")
            await rooms.add_member(conn, op.keyring, None, room.id, user_id)
            actor = await auth.unsafe_actor_for(conn, user_id)
            thread_id, _post = await rooms.create_thread(
                conn, op.store, settings, actor, room.id,
                title="Discrepancies in end-user certificates", body=post_body(1))
            for number in range(2, POSTS + 1):
                await rooms.create_post(conn, op.store, settings, actor, thread_id,
                                        body=post_body(number))
            stored = bytes(await conn.fetchval(
                "SELECT html FROM posts WHERE thread_id = $1 ORDER BY seq LIMIT 1", thread_id))
    return {"thread_id": str(thread_id), "email": BENCH_EMAIL, "password": BENCH_PASSWORD,
            "totp_secret": parse_qs(urlsplit(uri).query)["secret"][0],
            "stored_in_clear": str(CHECK_PREFIX.encode() in stored).lower()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/plaintext_server.py",
                                     description="benchmark-only launcher (see the docstring)")
    parser.add_argument("--bypass-encryption", action="store_true",
                        help="skip AES-GCM in this process (throw-away databases only)")
    parser.add_argument("command", choices=("serve", "seed"))
    parser.add_argument("rest", nargs=argparse.REMAINDER, help="arguments of `dief serve`")
    args = parser.parse_args(argv)
    if args.bypass_encryption:
        install_bypass()
    if args.command == "seed":
        print(json.dumps(asyncio.run(seed())), flush=True)
        return 0
    from forum.cli import main as dief

    return dief(["serve", *args.rest])


if __name__ == "__main__":
    sys.exit(main())
