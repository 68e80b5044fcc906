"""Demo data for newcomers: ``dief demo`` and ``dief serve --with-demo`` (``make run``).

Idempotent: existing demo accounts are left as they are. Every demo account is flagged
``is_demo``, has a second factor enrolled, and shares one password; in demo mode
(``DIEF_DEMO=true``) the second-factor page of a *demo* account shows its current code, so a
newcomer is inside within a minute without an authenticator app. Content is invented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from forum import db
from forum.auth import queries as auth_queries
from forum.auth import service as auth
from forum.settings import Settings

if TYPE_CHECKING:
    from forum.cli import Operator

# Shown on the demo sign-in page and printed by `make run`: demo accounts only.
DEMO_PASSWORD = "lantern orchard velvet compass"  # noqa: S105
DEMO_USERS = (
    ("admin@dief.example", "Ada Admin", "admin", None),
    ("moderator@dief.example", "Mona Moderator (Secretariat)", "moderator", None),
    ("facilitator@dief.example", "Felix Facilitator", "facilitator", None),
    ("delegate@dief.example", "Kwame Mensah", "delegate", "GHA"),
    ("delegate.fr@dief.example", "Claire Dubois", "delegate", "FRA"),
    ("delegate.br@dief.example", "João Silva", "delegate", "BRA"),
    ("observer@dief.example", "Olivia Observer (civil society)", "observer", None),
)


async def load(op: Operator, *, only_if_empty: bool = False) -> bool:
    """Create the demo accounts; returns False when nothing was created."""
    created = False
    async with db.transaction(op.pool) as conn:
        if only_if_empty and await auth_queries.list_users(conn):
            return False
        for email, name, role, state in DEMO_USERS:
            if await auth_queries.get_user_by_email(conn, email) is not None:
                continue
            user_id = await auth.create_user(conn, op.passwords, op.keyring, email=email,
                                             display_name=name, role=role, state=state,
                                             password=DEMO_PASSWORD, created_by=None,
                                             is_demo=True)
            await auth.enrol_totp_directly(conn, op.keyring, user_id)
            created = True
    return created


def instructions(settings: Settings, created: bool) -> str:
    lines = [
        "",
        "=" * 72,
        "DIEF Forum demo" + (" (demo data loaded)" if created else ""),
        f"  Open {settings.base_url}/signin",
        "  Sign in as admin@dief.example, moderator@dief.example, delegate@dief.example, "
        "facilitator@dief.example or observer@dief.example",
        f"  Password for every demo account: {DEMO_PASSWORD}",
        "  Second factor: in demo mode the code page shows the current code of demo accounts.",
        "=" * 72,
    ]
    return "\n".join(lines)
