"""Demo data for newcomers: ``dief demo`` and ``dief serve --with-demo`` (``make run``).

Idempotent: existing demo accounts are left as they are. Every demo account is flagged
``is_demo``, has a second factor enrolled, and shares one password; in demo mode
(``DIEF_DEMO=true``) the second-factor page of a *demo* account shows its current code, so a
newcomer is inside within a minute without an authenticator app. Content is invented.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

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
    ("moderator2@dief.example", "Marco Moderator (Secretariat)", "moderator", None),
    ("facilitator@dief.example", "Felix Facilitator", "facilitator", None),
    ("delegate@dief.example", "Kwame Mensah", "delegate", "GHA"),
    ("delegate.fr@dief.example", "Claire Dubois", "delegate", "FRA"),
    ("delegate.br@dief.example", "João Silva", "delegate", "BRA"),
    ("observer@dief.example", "Olivia Observer (civil society)", "observer", None),
)


# slug, kind, name, region, description
DEMO_ROOMS = (
    ("african", "regional", "African Group", "african",
     "Confidential room of the African Group's delegations."),
    ("asia-pacific", "regional", "Asia-Pacific Group", "asia_pacific",
     "Confidential room of the Asia-Pacific Group's delegations."),
    ("eastern-european", "regional", "Eastern European Group", "eastern_european",
     "Confidential room of the Eastern European Group's delegations."),
    ("grulac", "regional", "Latin American and Caribbean Group", "latin_american_caribbean",
     "Confidential room of GRULAC delegations."),
    ("weog", "regional", "Western European and Others Group", "western_european_others",
     "Confidential room of WEOG delegations."),
    ("wgeti", "working_group", "WGETI — Effective Treaty Implementation", None,
     "Working Group on Effective Treaty Implementation."),
    ("wgtr", "working_group", "WGTR — Transparency and Reporting", None,
     "Working Group on Transparency and Reporting."),
    ("wgtu", "working_group", "WGTU — Treaty Universalization", None,
     "Working Group on Treaty Universalization."),
    ("dief-plenary", "plenary", "DIEF plenary", None,
     "The Diversion Information Exchange Forum between its Geneva sessions."),
)
# A regional workshop, created by moderator@ with its room (as the Workshops page does), so
# that its facilitator can record takeaways; two of them, one shareable with the DIEF.
DEMO_WORKSHOP: dict[str, Any] = {
    "slug": "workshop-west-africa", "title": "Regional workshop on diversion — West Africa",
    "region": "african", "place": "Accra", "starts_on": "2026-03-10", "ends_on": "2026-03-12",
    "officials_trained": 11}
DEMO_TAKEAWAYS = (
    ("risk", "Stockpiles are rarely checked once weapons are delivered to the end user.", True),
    ("question", "Could the DIEF share a checklist of red flags in end-use documentation?",
     False),
)
# email → rooms (slug, room role)
DEMO_MEMBERS = {
    "moderator@dief.example": [(slug, "member") for slug, *_ in DEMO_ROOMS],
    "moderator2@dief.example": [("dief-plenary", "member")],
    "delegate@dief.example": [("african", "member"), ("dief-plenary", "member"),
                              ("wgeti", "member"), ("workshop-west-africa", "member")],
    "delegate.fr@dief.example": [("weog", "member"), ("dief-plenary", "member"),
                                 ("wgeti", "member")],
    "delegate.br@dief.example": [("grulac", "member"), ("dief-plenary", "member"),
                                 ("wgtr", "member")],
    "facilitator@dief.example": [("workshop-west-africa", "facilitator")],
    "observer@dief.example": [("wgeti", "member"), ("wgtu", "member")],
}
# room, author, title, first post, replies [(author, body)] — invented, no real case.
DEMO_THREADS: tuple[tuple[str, str, str, str, list[tuple[str, str]]], ...] = (
    ("dief-plenary", "moderator@dief.example", "Agenda of the next DIEF session in Geneva",
     "Dear colleagues,\n\nThe Secretariat proposes three items for the next session:\n\n"
     "1. Lessons from the regional workshops on diversion prevention\n"
     "2. Post-delivery cooperation and on-site verification\n"
     "3. Indicators of falsified end-user documentation\n\n"
     "Please reply here with suggestions before the end of the month.",
     [("delegate.fr@dief.example", "Thank you. We would welcome a short exchange on "
       "**post-shipment checks**: what worked, and what partners found intrusive."),
      ("delegate@dief.example", "Supporting item 3. Our customs service saw several "
       "end-user certificates with inconsistent stamps last year; we can share the "
       "*pattern* (not the case) at the session.")]),
    ("african", "delegate@dief.example", "Transit risks along coastal routes",
     "Colleagues, has anyone set up joint inspections of trans-shipments at ports with "
     "neighbouring customs services? We are looking for practical arrangements that work "
     "without a formal agreement.",
     [("moderator@dief.example", "The workshop in West Africa discussed this. The summary "
       "will be shared here once the facilitators have reviewed it.")]),
    ("wgeti", "delegate.fr@dief.example", "Sub-working group on Article 11: next steps",
     "This thread collects proposals for the Article 11 sub-working group's next meeting. "
     "See the [ATT website](https://thearmstradetreaty.org) for the latest documents.",
     [("observer@dief.example", "Civil society partners can prepare a short overview of "
       "open-source research on diversion indicators, if useful.")]),
    ("workshop-west-africa", "facilitator@dief.example", "Takeaways from day one",
     "- Risk assessment before export remains uneven across the region\n"
     "- Stockpile management is the most cited point of diversion after delivery\n"
     "- Participants asked for a checklist of red flags in end-use documentation",
     []),
)


async def _load_rooms(conn: asyncpg.Connection, op: Operator) -> None:
    from forum.rooms import queries as room_queries
    from forum.rooms import service as rooms
    from moderation.curation import service as curation

    for slug, kind, name, region, description in DEMO_ROOMS:
        if await room_queries.get_room_by_slug(conn, slug) is None:
            await rooms.create_room(conn, op.keyring, None, slug=slug, kind=kind, name=name,
                                    description=description, region=region)
    moderator = await auth_queries.get_user_by_email(conn, "moderator@dief.example")
    workshop = None
    if moderator is not None and await room_queries.get_room_by_slug(
            conn, DEMO_WORKSHOP["slug"]) is None:
        workshop = await curation.create_workshop(
            conn, op.keyring, await auth.unsafe_actor_for(conn, moderator["id"]),
            **DEMO_WORKSHOP)
    for email, memberships in DEMO_MEMBERS.items():
        user = await auth_queries.get_user_by_email(conn, email)
        if user is None:
            continue
        for slug, room_role in memberships:
            await rooms.add_member(conn, op.keyring, None, slug, user["id"], room_role)
    facilitator = await auth_queries.get_user_by_email(conn, "facilitator@dief.example")
    if workshop is not None and facilitator is not None:
        actor = await auth.unsafe_actor_for(conn, facilitator["id"])
        for kind, body, shareable in DEMO_TAKEAWAYS:
            await curation.add_takeaway(conn, op.keyring, actor, workshop.id, kind=kind,
                                        body=body, shareable=shareable)


async def _load_threads(conn: asyncpg.Connection, op: Operator, settings: Settings) -> None:
    from forum.rooms import service as rooms

    # Demo content is written in one go; lift the per-minute posting limit for it.
    relaxed = settings.replace(posts_per_minute=1000)
    for slug, author_email, title, body, replies in DEMO_THREADS:
        author = await auth_queries.get_user_by_email(conn, author_email)
        if author is None:
            continue
        actor = await auth.unsafe_actor_for(conn, author["id"])
        thread_id, _ = await rooms.create_thread(conn, op.store, relaxed, actor, slug,
                                                 title=title, body=body)
        for reply_email, reply in replies:
            replier = await auth_queries.get_user_by_email(conn, reply_email)
            if replier is None:
                continue
            reply_actor = await auth.unsafe_actor_for(conn, replier["id"])
            await rooms.create_post(conn, op.store, relaxed, reply_actor, thread_id,
                                    body=reply)


# Invented cases: (fields, publish?) — one published in the plenary, one waiting in the queue.
DEMO_CASES: tuple[tuple[dict[str, object], bool], ...] = (
    ({"narrative": "Assault rifles exported to a national police force under a valid licence "
                   "were later seized from a criminal group in a neighbouring country. The "
                   "serial numbers matched the export; the end user had reported no loss.",
      "transfer_stage": "post_delivery_storage", "detection_status": "detected",
      "item_categories": ["small_arms_light_weapons"],
      "diversion_methods": ["stockpile_theft_loss"], "actor_types": ["criminal_group"],
      "detection_channel": "tracing", "response_measures": ["alert_states"],
      "sharing_scope": "dief_plenary", "period": "2025", "quantity_band": "11_100"}, True),
    ({"narrative": "An end-user certificate for ammunition carried a stamp that did not match "
                   "the issuing ministry's; the broker insisted on urgent delivery by air.",
      "transfer_stage": "pre_transfer", "detection_status": "suspected",
      "item_categories": ["ammunition"], "diversion_methods": ["false_documentation"],
      "red_flags": ["document_anomalies", "vague_delivery"],
      "named_entities": "Example Brokerage Ltd", "sharing_scope": "dief_plenary",
      "period": "2026-Q1"}, False),
)
PUBLISHED_REDACTION = {
    "title": "Police rifles recovered from a criminal group after delivery",
    "narrative": "Rifles exported under a valid licence to a police force were later seized "
                 "from a criminal group in another country; the end user had reported no loss.",
}


async def _load_cases(op: Operator) -> str | None:
    """Submit the demo cases as a delegate, release them, publish the first (four eyes).
    Returns the receipt of the unpublished one, for trying the follow-up page."""
    from forum.cases import service as cases
    from moderation.queue import service as queue

    async with db.transaction(op.pool) as conn:
        delegate = await auth_queries.get_user_by_email(conn, "delegate@dief.example")
        mod1 = await auth_queries.get_user_by_email(conn, "moderator@dief.example")
        mod2 = await auth_queries.get_user_by_email(conn, "moderator2@dief.example")
        if delegate is None or mod1 is None or mod2 is None:
            return None
        source = await auth.unsafe_actor_for(conn, delegate["id"])
        submitted = [(await cases.submit_case(conn, op.keyring, source, fields), publish)
                     for fields, publish in DEMO_CASES]
        await queue.release_batch(conn, op.keyring)
        first = await auth.unsafe_actor_for(conn, mod1["id"])
        second = await auth.unsafe_actor_for(conn, mod2["id"])
        receipt = None
        for submission, publish in submitted:
            if not publish:
                receipt = submission.receipt
                continue
            await queue.claim(conn, op.keyring, first, submission.case_id)
            await queue.redact(conn, op.keyring, first, submission.case_id, PUBLISHED_REDACTION)
            await queue.approve(conn, op.keyring, first, submission.case_id)
            await queue.publish(conn, op.keyring, op.settings, second, submission.case_id,
                                "dief-plenary")
    return receipt


async def load(op: Operator, *, only_if_empty: bool = False) -> bool:
    """Create the demo accounts, rooms and threads; returns False when nothing was created."""
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
        if created:
            await _load_rooms(conn, op)
            await _load_threads(conn, op, op.settings)
    if created:
        receipt = await _load_cases(op)
        if receipt:
            op.settings.data_dir.mkdir(parents=True, exist_ok=True)
            (op.settings.data_dir / "demo-receipt.txt").write_text(receipt + "\n")
    return created


def instructions(settings: Settings, created: bool) -> str:
    lines = [
        "",
        "=" * 72,
        "DIEF Forum demo" + (" (demo data loaded)" if created else ""),
        f"  Open {settings.base_url}/signin",
        "  Sign in as delegate@dief.example, moderator@dief.example, admin@dief.example, "
        "facilitator@dief.example or observer@dief.example",
        f"  Password for every demo account: {DEMO_PASSWORD}",
        "  Second factor: in demo mode the code page shows the current code of demo accounts.",
        "  Cases: moderator@ and moderator2@ review the queue; a demo case's receipt for the",
        f"  follow-up page is in {settings.data_dir / 'demo-receipt.txt'}",
        "=" * 72,
    ]
    return "\n".join(lines)
