"""The HTML pages of anonymous cases and of the review queue, over real HTTP with form posts
(no JavaScript): the source's form, receipt and follow-up; the moderators' queue and case page
with every action; the published case for room members. Each page is checked for its status,
its content, and its weight (< 100 KB); every template of these areas for inline script/style.
"""

from __future__ import annotations

import html
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crypto import receipts
from forum import db, keys
from forum.auth import service as auth
from forum.cases import queries as case_queries
from forum.rooms import service as rooms
from moderation.queue import service as queue
from tests.factories import TestUser, make_user
from tests.pages import Browser

TEMPLATES = Path(__file__).resolve().parents[1] / "forum" / "templates"
RECEIPT = re.compile(r'<code class="secret">([A-Z0-9-]{29})</code>')
NARRATIVE = "Rifles declared for a police unit were found with an armed group in the north."


async def _release(client: TestClient) -> None:
    async with db.transaction(client.app[keys.POOL]) as conn:
        await queue.release_batch(conn, client.app[keys.KEYRING])


async def _room(client: TestClient, slug: str, kind: str, members: list[TestUser],
                region: str | None = None) -> None:
    async with db.transaction(client.app[keys.POOL]) as conn:
        room = await rooms.create_room(conn, client.app[keys.KEYRING], None, slug=slug,
                                       kind=kind, name=f"Room {slug}", region=region)
        for user in members:
            await rooms.add_member(conn, client.app[keys.KEYRING], None, room.id, user.id)


def _case_form(**overrides: Any) -> list[tuple[str, str]]:
    values: dict[str, Any] = {
        "narrative": NARRATIVE, "transfer_stage": "post_delivery_storage",
        "detection_status": "detected",
        "item_categories": ["small_arms_light_weapons", "ammunition"],
        "item_model": "Assault rifles, 7.62 mm", "quantity_band": "101_1000",
        "diversion_methods": ["unauthorised_retransfer"], "actor_types": ["broker"],
        "red_flags": ["abnormal_route"], "transport_mode": "road",
        "detection_channel": "tracing", "response_measures": ["alert_states"],
        "region": "", "period_year": "2024", "period_quarter": "3",
        "states_involved": "", "named_entities": "Acme Brokers Ltd\nMV Example",
        "document_refs": "EUC-2024-0042", "dates_places": "", "investigation_status": "",
        "submitter_lessons": "", "sharing_scope": "dief_plenary", "attribution": "anonymous",
        "language": "en",
    }
    values.update(overrides)
    fields: list[tuple[str, str]] = []
    for name, value in values.items():
        if value is None:
            continue
        for one in (value if isinstance(value, list) else [value]):
            fields.append((name, one))
    return fields


async def _submit(b: Browser, **overrides: Any) -> str:
    page = await b.post("/cases", _case_form(**overrides))
    assert page.status == 200, page.text
    match = RECEIPT.search(page.text)
    assert match, page.text
    return match.group(1)


async def _case_of(client: TestClient, receipt: str) -> str:
    """The case id behind a receipt (test-side only: pages never show it to the source)."""
    master = client.app[keys.KEYRING].master
    digest = receipts.receipt_hash(receipts.receipt_key_for(master),
                                   receipts.normalise_receipt(receipt))
    async with db.transaction(client.app[keys.POOL]) as conn:
        case_id = await case_queries.get_case_id_by_receipt(conn, [digest])
    assert case_id is not None
    return str(case_id)


def _case_ids(text: str) -> list[str]:
    return re.findall(r'href="/moderation/cases/([0-9a-f-]{36})"', text)


def _field(text: str, name: str) -> str:
    """The text of a textarea, as the browser would show it."""
    match = re.search(rf'<textarea id="f-{name}" name="{name}"[^>]*>(.*?)</textarea>', text,
                      re.S)
    assert match, name
    return html.unescape(match.group(1))


# --- templates -------------------------------------------------------------------------------

def test_templates_have_no_inline_script_or_style() -> None:
    inline = re.compile(r"<script|<style|\sstyle\s*=|\son[a-z]+\s*=|javascript:", re.I)
    found = [f"{path.relative_to(TEMPLATES)}:{n}: {line.strip()[:80]}"
             for path in sorted(TEMPLATES.rglob("*.html"))
             for n, line in enumerate(path.read_text().splitlines(), 1) if inline.search(line)]
    assert found == []
    assert (TEMPLATES / "cases" / "form.html").exists()
    assert (TEMPLATES / "moderation" / "case.html").exists()


# --- the source's pages ----------------------------------------------------------------------

async def test_form_is_for_delegates(client: TestClient) -> None:
    b = Browser(client)
    anonymous = await b.get("/cases/new")
    assert anonymous.status == 303 and anonymous.location.startswith("/signin")

    delegate = await make_user(client, role="delegate", state="GHA")
    await b.sign_in(delegate)
    page = await b.get("/cases/new")
    assert page.status == 200
    for name in ("narrative", "transfer_stage", "item_categories", "region", "period_year",
                 "period_quarter", "named_entities", "sharing_scope", "attribution"):
        assert f'name="{name}"' in page.text, name
    assert 'name="attribution" value="anonymous" aria-describedby="h-attr-anonymous" checked' \
        in page.text
    assert "African Group" in page.text  # regions from the reference data
    assert 'value="2025"' in page.text or 'value="2026"' in page.text
    assert 'type="date"' not in page.text  # a period, never a day
    home = await b.get("/")
    assert 'href="/cases/new"' in home.text and 'href="/cases/follow-up"' in home.text
    menu = (await b.get("/rooms")).text.split("</nav>")[0]  # on every page, in the menu
    assert 'href="/cases/new"' in menu and 'href="/cases/follow-up"' in menu

    for role in ("moderator", "admin", "observer", "facilitator"):
        await b.sign_in(await make_user(client, role=role))
        page = await b.get("/cases/new")
        assert page.status == 403, role
        assert 'href="/cases/new"' not in page.text  # no nav link either
        refused = await b.post("/cases", _case_form())
        assert refused.status == 403, role
    # The follow-up form is for whoever holds a receipt.
    assert (await b.get("/cases/follow-up")).status == 200


async def test_form_round_trip_receipt_then_follow_up(client: TestClient) -> None:
    b = Browser(client)
    delegate = await make_user(client, role="delegate", state="GHA", name="Kofi Distinctive")
    await b.sign_in(delegate)
    page = await b.post("/cases", _case_form())
    assert page.status == 200
    receipt = RECEIPT.search(page.text)
    assert receipt
    groups = re.findall(r'<span class="group">([A-Z0-9]{5})</span>', page.text)
    assert "-".join(groups) == receipt.group(1)
    assert "cannot be recovered" in page.text
    assert "Kofi" not in page.text and delegate.email not in page.text
    assert page.headers["Cache-Control"] == "no-store"

    # Typed as a person would: lower case, spaces instead of dashes.
    typed = receipt.group(1).lower().replace("-", " ")
    status = await b.post("/cases/follow-up", {"action": "lookup", "receipt": typed})
    assert status.status == 200, status.text
    assert "Waiting for the next batch" in status.text
    assert NARRATIVE in status.text
    for label in ("Small arms and light weapons (Art. 2(1)(h))", "Ammunition/munitions (Art. 3)",
                  "After delivery, in storage", "Unauthorised re-transfer", "Broker",
                  "101 to 1,000 items", "Quarter 3 of 2024", "Tracing request"):
        assert html.escape(label, quote=False) in status.text, label
    # Every follow-up form carries the receipt in its body, none in its address.
    assert status.text.count(f'name="receipt" value="{typed}"') >= 2
    assert "receipt=" not in status.text


async def test_invalid_form_is_shown_again_with_what_was_typed(client: TestClient) -> None:
    b = Browser(client)
    await b.sign_in(await make_user(client, role="delegate"))
    page = await b.post("/cases", _case_form(transfer_stage=None, named_entities="Broker <X>"))
    assert page.status == 422
    assert 'role="alert"' in page.text and 'href="#f-transfer_stage"' in page.text
    assert _field(page.text, "narrative") == NARRATIVE
    assert _field(page.text, "named_entities") == "Broker <X>"
    assert "Broker &lt;X&gt;" in page.text
    assert 'value="ammunition" checked' in page.text
    assert 'value="small_arms_light_weapons" checked' in page.text
    assert 'value="2024" selected' in page.text and 'value="3" selected' in page.text
    assert 'value="dief_plenary" required aria-describedby="h-scope-dief_plenary" checked' \
        in page.text
    assert RECEIPT.search(page.text) is None

    page = await b.post("/cases", _case_form(narrative="x" * 20_001))
    assert page.status == 422 and "at most 20000 characters" in page.text
    assert re.search(r'<textarea id="f-narrative"[^>]*aria-invalid="true"', page.text)
    page = await b.post("/cases", _case_form(period_year="", period_quarter="2"))
    assert page.status == 422 and 'href="#f-period"' in page.text
    page = await b.post("/cases", _case_form(sharing_scope="own_region", region=""))
    assert page.status == 422 and 'href="#f-region"' in page.text
    page = await b.post("/cases", _case_form(item_categories=["tanks_of_unknown_kind"]))
    assert page.status == 422 and 'href="#f-item_categories"' in page.text

    # In French, the form and its error.
    page = await b.post("/cases", _case_form(narrative=""), **{"Accept-Language": "fr"})
    assert page.status == 422
    assert '<html lang="fr">' in page.text and "Partager un cas de détournement" in page.text


async def test_a_form_sent_twice_shares_the_case_once(client: TestClient) -> None:
    """Reloading the receipt page sends the same form again: the case is not shared twice. A
    form refused for its content keeps its token, so the corrected form still goes through."""
    b = Browser(client)
    await b.sign_in(await make_user(client, role="delegate"))
    page = await b.get("/cases/new")
    token = re.search(r'<input type="hidden" name="form_token" value="([A-Za-z0-9_-]{16,})">',
                      page.text)
    assert token, page.text
    assert token.group(1) not in (await b.get("/cases/new")).text  # a new one per form
    fields = [*_case_form(), ("form_token", token.group(1))]
    page = await b.post("/cases", [f for f in fields if f[0] != "narrative"])
    assert page.status == 422 and f'value="{token.group(1)}"' in page.text  # kept
    page = await b.post("/cases", fields)
    assert page.status == 200 and RECEIPT.search(page.text)
    assert "does not send the case again" in page.text
    again = await b.post("/cases", fields)
    assert again.status == 409 and "This case was already shared" in again.text
    assert RECEIPT.search(again.text) is None and 'href="/cases/follow-up"' in again.text
    async with db.transaction(client.app[keys.POOL]) as conn:
        assert await conn.fetchval("SELECT count(*) FROM cases") == 1
    page = await b.post("/cases", [*_case_form(), ("form_token", "not a token")])
    assert page.status == 422 and RECEIPT.search(page.text) is None
    again = await b.post("/cases", fields, **{"Accept-Language": "fr"})
    assert again.status == 409 and "Ce cas a déjà été partagé" in again.text


async def test_follow_up_receipt_errors(client: TestClient) -> None:
    b = Browser(client)
    await b.sign_in(await make_user(client, role="delegate"))
    page = await b.get("/cases/follow-up")
    assert page.status == 200 and 'name="receipt"' in page.text and 'autocomplete="off"' \
        in page.text
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": ""})
    assert page.status == 422 and 'role="alert"' in page.text
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": "not a receipt"})
    assert page.status == 422 and "This is not a receipt" in page.text
    wrong = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE"
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": wrong})
    assert page.status == 404 and "No case has this receipt" in page.text
    assert wrong not in page.text  # not echoed back
    page = await b.post("/cases/follow-up", {"action": "message", "receipt": wrong,
                                             "body": "Hello"})
    assert page.status == 404 and 'name="receipt"' in page.text
    for _ in range(8):
        await b.post("/cases/follow-up", {"action": "lookup", "receipt": wrong})
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": wrong})
    assert page.status == 429 and page.headers["Retry-After"] == "3600"
    assert "too many wrong receipts" in page.text


async def test_follow_up_message_withdraw_and_closed_case(client: TestClient) -> None:
    b = Browser(client)
    await b.sign_in(await make_user(client, role="delegate"))
    receipt = await _submit(b)

    page = await b.post("/cases/follow-up", {"action": "message", "receipt": receipt,
                                             "body": "  "})
    assert page.status == 422 and "Write your message" in page.text
    assert "Waiting for the next batch" in page.text  # the case is shown again
    page = await b.post("/cases/follow-up", {"action": "message", "receipt": receipt,
                                             "body": "The rifles' serial numbers follow."})
    assert page.status == 200
    assert "The rifles&#39; serial numbers follow." in page.text
    assert "waiting for the next batch" in page.text
    assert "after the next batch release" in page.text

    page = await b.post("/cases/follow-up", {"action": "withdraw", "receipt": receipt})
    assert page.status == 200 and "Withdraw this case?" in page.text
    assert 'name="confirm" value="yes"' in page.text
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": receipt})
    assert "Waiting for the next batch" in page.text  # nothing happened yet
    page = await b.post("/cases/follow-up", {"action": "withdraw", "receipt": receipt,
                                             "confirm": "yes"})
    assert page.status == 200 and "Your case is withdrawn" in page.text
    assert 'value="withdraw"' not in page.text and 'value="message"' not in page.text

    page = await b.post("/cases/follow-up", {"action": "message", "receipt": receipt,
                                             "body": "One more thing"})
    assert page.status == 409 and "This case is closed" in page.text
    page = await b.post("/cases/follow-up", {"action": "withdraw", "receipt": receipt,
                                             "confirm": "yes"})
    assert page.status == 409 and "already withdrawn" in page.text
    page = await b.post("/cases/follow-up", {"action": "destroy", "receipt": receipt,
                                             "confirm": "yes", "understood": "1"})
    assert page.status == 409 and "Only a published case" in page.text


# --- moderators, publication, readers ---------------------------------------------------------

async def test_from_form_to_publication_over_html(client: TestClient) -> None:
    b = Browser(client)
    source = await make_user(client, role="delegate", state="GHA", name="Kwabena Sourceperson")
    mod1 = await make_user(client, role="moderator", name="Mona Mod")
    mod2 = await make_user(client, role="moderator", name="Marco Mod")
    reader = await make_user(client, role="delegate", state="FRA")
    outsider = await make_user(client, role="delegate", state="BRA")
    await _room(client, "dief-plenary", "plenary", [mod1, mod2, reader])
    await _room(client, "wgeti", "working_group", [mod1, outsider])

    await b.sign_in(source)
    receipt = await _submit(b)
    await _submit(b, narrative="Another case about the same broker.",
                  named_entities="ACME   brokers ltd", document_refs="")

    # Before the batch: the queue is empty.
    await b.sign_in(mod1)
    page = await b.get("/moderation")
    assert page.status == 200 and _case_ids(page.text) == []
    assert 'href="/moderation"' in page.text  # the nav link
    page = await b.post("/moderation/claim", {})
    assert page.status == 200 and "No open case to claim" in page.text
    assert _case_ids(page.text) == [] and "All (0)" in page.text

    await _release(client)
    page = await b.get("/moderation")
    assert len(set(_case_ids(page.text))) == 2
    assert "After delivery, in storage" in page.text
    page = await b.get("/moderation?state=open")
    assert page.status == 200 and len(set(_case_ids(page.text))) == 2
    page = await b.get("/moderation?state=claimed")
    assert page.status == 200 and _case_ids(page.text) == []
    assert (await b.get("/moderation?state=nonsense")).status == 422

    # Claim the case with the receipt we hold (the queue order is random).
    case_id = await _case_of(client, receipt)
    page = await b.post("/moderation/claim", {"case_id": case_id})
    assert page.status == 303 and page.location == f"/moderation/cases/{case_id}?done=claimed"
    page = await b.get(page.location)
    assert page.status == 200
    assert "You have claimed this case" in page.text
    assert NARRATIVE in page.text and "EUC-2024-0042" in page.text
    assert _field(page.text, "narrative") == NARRATIVE  # redaction pre-filled with the original
    assert "An entity named in this case also appears in 1 other case" in page.text
    assert len(_case_ids(page.text)) == 1  # the other case, linked
    assert "Kwabena" not in page.text and source.email not in page.text
    assert "Ghana" not in page.text  # anonymous: not even the State

    # A second moderator cannot claim it now.
    await b.sign_in(mod2)
    page = await b.post("/moderation/claim", {"case_id": case_id})
    assert page.status == 409 and "Another moderator has this case" in page.text

    # Ask; the source reads and answers with the receipt.
    await b.sign_in(mod1)
    page = await b.post(f"/moderation/cases/{case_id}/ask", {"question": ""})
    assert page.status == 422 and "This field is required" in page.text
    page = await b.post(f"/moderation/cases/{case_id}/ask", {"question": "Which year?"})
    assert page.status == 303
    await b.sign_in(source)
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": receipt})
    assert "Question for the source" in page.text and "Which year?" in page.text
    page = await b.post("/cases/follow-up", {"action": "message", "receipt": receipt,
                                             "body": "Early 2024."})
    assert page.status == 200
    await _release(client)

    await b.sign_in(mod1)
    page = await b.get(f"/moderation/cases/{case_id}")
    assert "Early 2024." in page.text and "The source answered" in page.text
    page = await b.post("/moderation/claim", {"case_id": case_id})
    assert page.status == 303
    # Redact: an error keeps what was typed.
    redaction = {"title": "", "narrative": "Rifles for a police unit reached an armed group.",
                 "named_entities": "", "document_refs": "", "item_model": "Assault rifles"}
    page = await b.post(f"/moderation/cases/{case_id}/redact", redaction)
    assert page.status == 422 and 'href="#f-title"' in page.text
    assert _field(page.text, "narrative") == redaction["narrative"]
    page = await b.post(f"/moderation/cases/{case_id}/approve", {})
    assert page.status == 409 and "Write and save the redacted version first" in page.text
    redaction["title"] = "Re-transfer of rifles from a police stockpile"
    page = await b.post(f"/moderation/cases/{case_id}/redact", redaction)
    assert page.status == 303
    page = await b.get(page.location)
    assert "The redacted version is saved" in page.text
    assert '<pre class="diff"' in page.text and "-EUC-2024-0042" in page.text
    page = await b.post(f"/moderation/cases/{case_id}/approve", {})
    assert page.status == 303
    page = await b.get(page.location)
    assert "Approved by Mona Mod" in page.text
    assert "another moderator must publish it" in page.text
    page = await b.post(f"/moderation/cases/{case_id}/publish", {"room": "dief-plenary"})
    assert page.status == 409 and "Another moderator must publish" in page.text

    # The second moderator publishes; only rooms of the scope are offered.
    await b.sign_in(mod2)
    page = await b.get(f"/moderation/cases/{case_id}")
    assert '<option value="dief-plenary"' in page.text and 'value="wgeti"' not in page.text
    page = await b.post(f"/moderation/cases/{case_id}/publish", {"room": "wgeti"})
    assert page.status == 422 and "does not match the case" in page.text
    page = await b.post(f"/moderation/cases/{case_id}/publish", {"room": "dief-plenary"})
    assert page.status == 303
    page = await b.get(page.location)
    assert "The case is published" in page.text and f'href="/cases/{case_id}"' in page.text

    # A member of the room reads it; a member of another room gets 404.
    await b.sign_in(reader)
    page = await b.get(f"/cases/{case_id}")
    assert page.status == 200
    assert "Re-transfer of rifles from a police stockpile" in page.text
    assert "Rifles for a police unit reached an armed group." in page.text
    assert "undisclosed" in page.text and "Quarter 3 of 2024" in page.text
    assert "Small arms and light weapons" in page.text and "Alerted affected States" in page.text
    assert "Shared by" not in page.text
    assert NARRATIVE not in page.text and "EUC-2024-0042" not in page.text
    thread = re.search(r'href="/threads/([0-9a-f-]{36})"', page.text)
    assert thread and (await b.get(f"/threads/{thread.group(1)}")).status == 200
    await b.sign_in(outsider)
    assert (await b.get(f"/cases/{case_id}")).status == 404
    assert (await b.get(f"/cases/{uuid.uuid4()}")).status == 404
    assert (await b.get("/cases/not-a-uuid")).status == 404

    # The source destroys the original wording, with a strong confirmation.
    await b.sign_in(source)
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": receipt})
    assert "Published" in page.text and 'value="destroy"' in page.text
    page = await b.post("/cases/follow-up", {"action": "destroy", "receipt": receipt})
    assert page.status == 200 and "This cannot be undone" in page.text
    page = await b.post("/cases/follow-up", {"action": "destroy", "receipt": receipt,
                                             "confirm": "yes"})
    assert page.status == 422 and "Tick the box" in page.text
    page = await b.post("/cases/follow-up", {"action": "destroy", "receipt": receipt,
                                             "confirm": "yes", "understood": "1"})
    assert page.status == 200 and "Your original wording is destroyed" in page.text
    assert NARRATIVE not in page.text
    await b.sign_in(reader)
    page = await b.get(f"/cases/{case_id}")
    assert page.status == 200 and "Rifles for a police unit reached an armed group." in page.text
    await b.sign_in(mod1)
    page = await b.get(f"/moderation/cases/{case_id}")
    assert page.status == 200 and "destroyed the original wording" in page.text


async def test_attributed_case_names_the_state_and_only_it(client: TestClient) -> None:
    b = Browser(client)
    source = await make_user(client, role="delegate", state="GHA", name="Ama Attributor")
    mod1, mod2 = (await make_user(client, role="moderator"),
                  await make_user(client, role="moderator"))
    reader = await make_user(client, role="delegate", state="FRA")
    await _room(client, "african", "regional", [mod1, mod2, reader], region="african")
    await b.sign_in(source)
    receipt = await _submit(b, attribution="attributed", sharing_scope="own_region",
                            region="african")
    await _release(client)
    case_id = await _case_of(client, receipt)
    await b.sign_in(mod1)
    assert (await b.post("/moderation/claim", {"case_id": case_id})).status == 303
    page = await b.get(f"/moderation/cases/{case_id}")
    assert "Ghana" in page.text and "African Group" in page.text
    assert "it would show as “undisclosed”" in page.text  # one State with delegates < k
    assert "Ama" not in page.text and source.email not in page.text
    redaction = {"title": "A case", "narrative": "Redacted."}
    assert (await b.post(f"/moderation/cases/{case_id}/redact", redaction)).status == 303
    assert (await b.post(f"/moderation/cases/{case_id}/approve", {})).status == 303
    await b.sign_in(mod2)
    assert (await b.post(f"/moderation/cases/{case_id}/publish",
                         {"room": "african"})).status == 303
    await b.sign_in(reader)
    page = await b.get(f"/cases/{case_id}")
    assert page.status == 200
    assert 'Shared by:</dt><dd class="shared-by">Ghana</dd>' in page.text
    assert "undisclosed" in page.text and "African Group" not in page.text.split("<main")[1]
    assert "Ama" not in page.text and source.email not in page.text


async def _secretariat_case_in_review(client: TestClient,
                                      b: Browser) -> tuple[TestUser, str, str]:
    """A case shared with the Secretariat only, released; ``b`` is left signed in as a
    moderator. Returns the source, the receipt and the case id."""
    source = await make_user(client, role="delegate")
    await b.sign_in(source)
    receipt = await _submit(b, sharing_scope="secretariat")
    await _release(client)
    case_id = await _case_of(client, receipt)
    await b.sign_in(await make_user(client, role="moderator"))
    return source, receipt, case_id


async def test_an_approved_secretariat_only_case_is_not_said_to_await_publication(
        client: TestClient) -> None:
    b = Browser(client)
    source, receipt, case_id = await _secretariat_case_in_review(client, b)
    assert (await b.post("/moderation/claim", {"case_id": case_id})).status == 303
    redaction = {"title": "A case", "narrative": "Redacted."}
    assert (await b.post(f"/moderation/cases/{case_id}/redact", redaction)).status == 303
    assert (await b.post(f"/moderation/cases/{case_id}/approve", {})).status == 303
    page = await b.get(f"/moderation/cases/{case_id}")
    assert "Approved (Secretariat only)" in page.text
    await b.sign_in(source)
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": receipt})
    assert "Approved (Secretariat only)" in page.text
    assert "not published in any room" in page.text and "awaiting publication" not in page.text


async def test_reject_is_shown_to_the_source(client: TestClient) -> None:
    b = Browser(client)
    source, receipt, case_id = await _secretariat_case_in_review(client, b)
    page = await b.post("/moderation/claim", {})
    assert page.status == 303
    assert (await b.post(f"/moderation/cases/{case_id}/reject", {"reason": ""})).status == 422
    page = await b.post(f"/moderation/cases/{case_id}/reject",
                        {"reason": "Too little to go on."})
    assert page.status == 303
    page = await b.get(page.location)
    assert "The case is rejected" in page.text and "Too little to go on." in page.text
    await b.sign_in(source)
    page = await b.post("/cases/follow-up", {"action": "lookup", "receipt": receipt})
    assert "Not published" in page.text and "Too little to go on." in page.text


async def test_moderator_pages_are_for_moderators(client: TestClient) -> None:
    b = Browser(client)
    case_id = uuid.uuid4()
    for role in ("delegate", "admin", "observer", "facilitator"):
        await b.sign_in(await make_user(client, role=role))
        assert (await b.get("/moderation")).status == 403, role
        assert (await b.get(f"/moderation/cases/{case_id}")).status == 403, role
        assert (await b.post("/moderation/claim", {})).status == 403, role
        for action in ("ask", "redact", "approve", "reject", "publish"):
            page = await b.post(f"/moderation/cases/{case_id}/{action}", {})
            assert page.status in (403, 422), (role, action, page.status)
        assert 'href="/moderation"' not in (await b.get("/")).text
    await b.sign_in(await make_user(client, role="moderator"))
    assert (await b.get(f"/moderation/cases/{case_id}")).status == 404
    assert (await b.get("/moderation/cases/nonsense")).status == 404
    # A pending case (not released yet) does not exist for moderators.
    moderator = b.csrf
    await b.sign_in(await make_user(client, role="delegate"))
    pending = await _case_of(client, await _submit(b))
    await b.sign_in(await make_user(client, role="moderator"))
    assert b.csrf != moderator
    assert (await b.get(f"/moderation/cases/{pending}")).status == 404


@pytest.mark.parametrize("lang", ["fr", "es"])
async def test_pages_in_french_and_spanish(client: TestClient, lang: str) -> None:
    b = Browser(client)
    await b.sign_in(await make_user(client, role="delegate"))
    page = await b.get("/cases/new", **{"Accept-Language": lang})
    assert page.status == 200 and f'<html lang="{lang}">' in page.text
    # Template strings, and the vocabulary's labels (lazy_gettext under its alias _l).
    words = {"fr": ("Partager un cas de détournement", "1. Ce qui s'est passé",
                    "Détournement constaté", "Après la livraison, en stock"),
             "es": ("Compartir un caso de desvío", "1. Lo que ocurrió", "Desvío detectado",
                    "Después de la entrega, en almacenamiento")}[lang]
    for word in words:
        assert word in page.text, word
    page = await b.post("/cases", _case_form(), **{"Accept-Language": lang})
    assert page.status == 200
    assert {"fr": "Votre reçu", "es": "Su recibo"}[lang] in page.text


async def test_claim_next_case_skips_items_of_other_kinds(client: TestClient) -> None:
    """Flagged posts share the review queue; "Claim the next case" must not take one (it
    did: a 500 on uuid.UUID(str(None))), and the queue page lists and counts cases only."""
    b = Browser(client)
    member = await make_user(client, role="delegate")
    await _room(client, "wg-flags", "working_group", [member])
    async with db.transaction(client.app[keys.POOL]) as conn:
        actor = await auth.unsafe_actor_for(conn, member.id)
        room = await rooms.get_room(conn, actor, "wg-flags")
        _thread, post_id = await rooms.create_thread(
            conn, client.app[keys.KEYSTORE], client.app[keys.SETTINGS], actor, room.id,
            title="A thread", body="A post someone will flag.")
    await b.sign_in(member)
    assert (await b.post(f"/posts/{post_id}/flag", {"reason": "spam"})).status == 200
    await b.sign_in(await make_user(client, role="moderator"))
    page = await b.post("/moderation/claim", {})
    assert page.status == 200 and "No open case to claim" in page.text
    assert _case_ids(page.text) == [] and "All (0)" in page.text
