"""Anonymous diversion cases: submission and the source's follow-up with the receipt.

The anonymity rules (DESIGN §5), and where each is kept:

* The ``cases`` row has no column for a user, a State (unless the submitter explicitly chose
  "attributed", which stores the State only), a session or a time of day: ``submitted_on`` is
  the UTC date. Ids are ``uuid4``. The case's data key is created with a date-only timestamp.
* ``submit_case`` reads the actor only to check the role and, for an attributed case, the
  State; it writes nothing that names them — no audit entry, no throttle row, no session touch
  (the session middleware does not touch sessions on ``ANONYMOUS_ROUTES``).
* The receipt (125 bits, crypto/receipts.py) is shown once; the database keeps
  ``HMAC-SHA256(k_receipt, receipt)``. Follow-ups present it in the body or a header, never in
  a URL. Wrong receipts are throttled per client address (HMAC of it, not linked to any case).
* New cases and the source's answers wait for the next batch release (moderation/queue),
  which queues them in random order with the batch's time, so arrival time cannot be matched
  against who was online.
* Source actions never enter the audit chain; writes they cause carry dates, not times.
* A case form carries a random token (``new_form_token``), not stored when the form is served;
  the submission stores ``HMAC-SHA256(k_form, token)`` with the date in ``case_submissions``,
  unlinked to the case, so that the same form sent twice (a reload of the receipt page) is
  refused instead of sharing the case twice.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from crypto import blind_index, receipts, tokens
from forum.auth.service import Actor
from forum.cases import queries, vocabulary
from forum.db import transaction
from forum.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)
from forum.keyring import KeyRing
from forum.keystore import service as keystore
from forum.keystore.service import Sealed
from forum.reference import queries as reference_queries
from forum.settings import Settings

MAX_NARRATIVE = 20_000
MAX_FIELD = 5_000
MAX_MESSAGE = 10_000
MAX_INDEXED_LINES = 50
RECEIPT_FAILURES_PER_HOUR = 10
FORM_KEY_LABEL = "dief/case-form/v1"  # HKDF label of the key that hashes form tokens
OPEN_STATES = frozenset({"pending", "in_review", "needs_information", "approved"})
_PERIOD = re.compile(r"[0-9]{4}(-Q[1-4])?", re.ASCII)
FORM_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,100}", re.ASCII)


def case_scope(case_id: uuid.UUID) -> str:
    return f"case:{case_id}"


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def day_start(day: dt.date) -> dt.datetime:
    """Midnight UTC of ``day``: the only 'time' a source-caused write may carry."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Submission:
    case_id: uuid.UUID
    receipt: str


@dataclass(frozen=True)
class CaseMessage:
    seq: int
    sender: str
    moderator_name: str | None
    body: str | None
    sent_on: dt.date
    delivered: bool


@dataclass(frozen=True)
class CaseView:
    """A case as its source (with the receipt) or a moderator sees it."""

    id: uuid.UUID
    status: str
    submitted_on: dt.date
    analytic: dict[str, Any]
    sensitive: dict[str, str | None]  # None: empty, or destroyed
    original_destroyed: bool
    reject_reason: str | None
    messages: list[CaseMessage]


# --- validation ------------------------------------------------------------------------------

def _one(data: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        if required:
            raise ValidationError("Choose one of the options", field=name,
                                  code=f"{name}_missing")
        return None
    choices = vocabulary.SINGLE[name]
    if not isinstance(value, str) or value not in choices:
        raise ValidationError("Unknown value", detail="%(field)s: expected one of %(choices)s",
                              params={"field": name, "choices": ", ".join(choices)},
                              field=name, code=f"{name}_invalid")
    return value


def _many(data: Mapping[str, Any], name: str) -> list[str]:
    value = data.get(name)
    if value in (None, "", []):
        return []
    if isinstance(value, str):
        value = [value]
    choices = vocabulary.MULTI[name]
    if not isinstance(value, list) or len(value) > len(choices) or any(
            not isinstance(v, str) or v not in choices for v in value):
        raise ValidationError("Unknown value", detail="%(field)s: a list drawn from %(choices)s",
                              params={"field": name, "choices": ", ".join(choices)},
                              field=name, code=f"{name}_invalid")
    return sorted(set(value))


def _text(data: Mapping[str, Any], name: str, maximum: int, *, required: bool = False) -> str:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ValidationError("Describe what happened", field=name, code=f"{name}_missing")
        return ""
    if not isinstance(value, str):
        raise ValidationError("This field is text", field=name, code=f"{name}_invalid")
    text = value.replace("\r\n", "\n").strip()
    if required and not text:
        raise ValidationError("Describe what happened", field=name, code=f"{name}_missing")
    if len(text) > maximum:
        raise ValidationError("Text too long", detail="%(field)s: at most %(maximum)s characters",
                              params={"field": name, "maximum": maximum}, field=name,
                              code=f"{name}_too_long", max_length=maximum)
    return text


def _period(data: Mapping[str, Any]) -> str | None:
    value = data.get("period")
    if value in (None, ""):
        return None
    # ASCII digits only, as the column's CHECK: str.isdigit() also accepts "²" (which int()
    # refuses) and "٢٠٢٠" (which int() reads as 2020, and the CHECK then refuses).
    if not isinstance(value, str) or not _PERIOD.fullmatch(value):
        raise ValidationError("Give a year or a quarter, never a day",
                              detail="period: YYYY or YYYY-Qn, e.g. 2025 or 2025-Q3",
                              field="period", code="period_invalid")
    assert isinstance(value, str)
    year = int(value[:4])
    if not 1990 <= year <= today().year:
        raise ValidationError("Period out of range", field="period", code="period_invalid")
    return value


def _form_token(data: Mapping[str, Any]) -> str | None:
    value = data.get("form_token")
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not FORM_TOKEN.fullmatch(value):
        raise ValidationError("Invalid form token", detail="form_token: 16 to 100 characters "
                              "among A-Z, a-z, 0-9, - and _", field="form_token",
                              code="form_token_invalid")
    return value


def new_form_token() -> str:
    """A random token for one case form (144 bits), never stored in clear: sending the same
    form twice — a reload of the receipt page, a double click — shares the case only once."""
    return secrets.token_urlsafe(18)


def _index_lines(text: str) -> list[str]:
    """One indexed value per line (or per ';'): 'Acme Trading; MV Example' → two values."""
    parts = [p.strip() for line in text.splitlines() for p in line.split(";")]
    return [p for p in parts if p][:MAX_INDEXED_LINES]


@dataclass(frozen=True)
class CheckedCase:
    analytic: dict[str, Any]
    sensitive: dict[str, str]


async def check_case(conn: asyncpg.Connection, data: Mapping[str, Any]) -> CheckedCase:
    analytic: dict[str, Any] = {
        "detection_status": _one(data, "detection_status"),
        "transfer_stage": _one(data, "transfer_stage", required=True),
        "detection_channel": _one(data, "detection_channel"),
        "sharing_scope": _one(data, "sharing_scope") or "secretariat",
        "attribution": _one(data, "attribution") or "anonymous",
        "language": _one(data, "language"),
        "quantity_band": _one(data, "quantity_band"),
        "transport_mode": _one(data, "transport_mode"),
        "period": _period(data),
    }
    for name in vocabulary.MULTI:
        analytic[name] = _many(data, name)
    region = data.get("region")
    if region in (None, ""):
        analytic["region_code"] = None
    elif not isinstance(region, str) or await reference_queries.get_region(conn, region) is None:
        raise ValidationError("Unknown region", field="region", code="region_invalid")
    else:
        analytic["region_code"] = region
    if analytic["sharing_scope"] == "own_region" and analytic["region_code"] is None:
        raise ValidationError("Choose your region to share with its room", field="region",
                              code="region_required")
    sensitive = {"narrative": _text(data, "narrative", MAX_NARRATIVE, required=True)}
    for name in vocabulary.SENSITIVE_FIELDS:
        if name != "narrative":
            sensitive[name] = _text(data, name, MAX_FIELD)
    return CheckedCase(analytic, sensitive)


# --- submission ------------------------------------------------------------------------------

def _receipt_hashes(keyring: KeyRing, receipt: object) -> list[bytes]:
    """The receipt's hash under every master key we hold (receipts outlive key rotations)."""
    if not isinstance(receipt, str) or not receipt.strip() or len(receipt) > 100:
        raise ValidationError("Enter your receipt", field="receipt", code="receipt_missing")
    try:
        normalised = receipts.normalise_receipt(receipt)
    except ValueError:
        raise ValidationError("This is not a receipt", detail="a receipt is 25 letters and "
                              "digits in five groups", field="receipt",
                              code="receipt_invalid") from None
    masters = (keyring.master, *keyring.retired)
    return [receipts.receipt_hash(receipts.receipt_key_for(m), normalised) for m in masters]


async def submit_case(conn: asyncpg.Connection, keyring: KeyRing, actor: Actor,
                      data: Mapping[str, Any]) -> Submission:
    """Store a new case; return its id and the receipt (shown once, never stored)."""
    if actor.role != "delegate":
        raise ForbiddenError("Only delegates of States submit cases")
    checked = await check_case(conn, data)
    token = _form_token(data)
    day = today()
    if token is not None and not await queries.insert_form_token(
            conn, tokens.keyed_digest(keyring.master.derive(FORM_KEY_LABEL), token), day):
        raise ConflictError("This case form was already sent", code="case_already_submitted")
    analytic = dict(checked.analytic)
    analytic["attributed_state"] = (actor.state_iso3 if analytic["attribution"] == "attributed"
                                    else None)
    case_id = uuid.uuid4()
    receipt = receipts.new_receipt()
    dek = await keystore.current_key(conn, keyring.store, case_scope(case_id),
                                     created_at=day_start(day))
    values: dict[str, Any] = dict(analytic)
    for name, text in checked.sensitive.items():
        values[name] = (keystore.seal_text(dek, text, "cases", name, case_id) if text else None)
    await queries.insert_case(conn, case_id, day,
                              receipts.receipt_hash(receipts.receipt_key_for(keyring.master),
                                                    receipts.normalise_receipt(receipt)),
                              values)
    entries: list[tuple[str, bytes]] = []
    for field, kind in vocabulary.INDEXED_FIELDS.items():
        key = blind_index.index_key_for(keyring.master, field)
        for value in _index_lines(checked.sensitive.get(field, "")):
            try:
                entries.append((field, blind_index.blind_index(key, value, kind=kind)))  # type: ignore[arg-type]
            except ValueError:
                continue  # normalises to nothing (punctuation only): not indexable
    if entries:
        await queries.insert_index_entries(conn, case_id, entries)
    return Submission(case_id, receipt)


# --- follow-up with the receipt --------------------------------------------------------------
# These take the pool: a wrong receipt must be counted (committed) even though the request
# fails, and the work on the case then runs in its own transaction.

async def _check_receipt(pool: asyncpg.Pool, keyring: KeyRing, receipt: object,
                         client_address: str) -> list[bytes]:
    """The receipt's hashes if a case has it; otherwise count the failure and refuse."""
    hashes = _receipt_hashes(keyring, receipt)
    key_hash = tokens.keyed_digest(keyring.throttle_key, "receipt:" + client_address)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    async with transaction(pool) as conn:
        if (await queries.count_receipt_failures(conn, key_hash, since)
                >= RECEIPT_FAILURES_PER_HOUR):
            raise RateLimitedError(3600, detail="too many wrong receipts; try again in an hour")
        found = await queries.get_case_id_by_receipt(conn, hashes)
        if found is None:
            await queries.insert_receipt_failure(conn, key_hash)
    if found is None:
        raise NotFoundError("No case has this receipt", code="receipt_unknown")
    return hashes


async def _locked(conn: asyncpg.Connection, hashes: list[bytes]) -> asyncpg.Record:
    row = await queries.lock_case_by_receipt(conn, hashes)
    if row is None:
        raise NotFoundError("No case has this receipt", code="receipt_unknown")
    return row


async def case_view(conn: asyncpg.Connection, keyring: KeyRing, row: asyncpg.Record, *,
                    released_only: bool) -> CaseView:
    case_id = row["id"]
    names = list(vocabulary.SENSITIVE_FIELDS)
    message_rows = await queries.list_messages(conn, case_id, released_only=released_only)
    items = [Sealed(bytes(row[n]) if row[n] is not None else None,
                    keystore.aad("cases", n, case_id)) for n in names]
    items += [Sealed(bytes(m["body"]) if m["body"] is not None else None,
                     keystore.aad("case_messages", "body", m["id"])) for m in message_rows]
    texts = await keystore.open_texts(conn, keyring.store, items)
    sensitive = dict(zip(names, texts[:len(names)], strict=True))
    messages = [CaseMessage(m["seq"], m["sender"], m["moderator_name"], text, m["sent_on"],
                            m["sender"] == "moderator" or m["released_at"] is not None)
                for m, text in zip(message_rows, texts[len(names):], strict=True)]
    analytic = {name: row[name] for name in queries.ANALYTIC_COLUMNS}
    if analytic.get("attributed_state"):
        analytic["attributed_state"] = analytic["attributed_state"].strip()
    return CaseView(case_id, row["status"], row["submitted_on"], analytic, sensitive,
                    row["original_destroyed_on"] is not None, row["reject_reason"], messages)


async def lookup(pool: asyncpg.Pool, keyring: KeyRing, receipt: object,
                 client_address: str) -> CaseView:
    hashes = await _check_receipt(pool, keyring, receipt, client_address)
    async with transaction(pool) as conn:
        row = await _locked(conn, hashes)
        return await case_view(conn, keyring, row, released_only=False)


def check_message(body: object) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ValidationError("Write your message", field="body", code="body_missing")
    text = body.replace("\r\n", "\n").strip()
    if len(text) > MAX_MESSAGE:
        raise ValidationError("Message too long", detail="at most %(maximum)s characters",
                              params={"maximum": MAX_MESSAGE}, field="body",
                              code="body_too_long", max_length=MAX_MESSAGE)
    return text


async def add_message(pool: asyncpg.Pool, keyring: KeyRing, receipt: object, body: object,
                      client_address: str) -> CaseView:
    """The source answers a question or adds information; moderators see it at the next
    batch release."""
    text = check_message(body)
    hashes = await _check_receipt(pool, keyring, receipt, client_address)
    async with transaction(pool) as conn:
        row = await _locked(conn, hashes)
        if row["status"] not in OPEN_STATES:
            raise ConflictError("This case is closed; it no longer takes messages",
                                code="case_closed", status_now=row["status"])
        message_id = uuid.uuid4()
        day = today()
        dek = await keystore.current_key(conn, keyring.store, case_scope(row["id"]),
                                         created_at=day_start(day))
        await queries.insert_message(conn, message_id, row["id"], "source", None,
                                     keystore.seal_text(dek, text, "case_messages", "body",
                                                        message_id), day, None)
        return await case_view(conn, keyring, row, released_only=False)


async def withdraw(pool: asyncpg.Pool, keyring: KeyRing, receipt: object,
                   client_address: str) -> CaseView:
    from moderation.queue import service as queue  # the item leaves the queue at once

    hashes = await _check_receipt(pool, keyring, receipt, client_address)
    async with transaction(pool) as conn:
        row = await _locked(conn, hashes)
        if row["status"] == "withdrawn":
            raise ConflictError("This case was already withdrawn", code="case_withdrawn")
        if row["status"] in ("published", "rejected"):
            raise ConflictError("This case can no longer be withdrawn",
                                detail="a published case's original wording can be destroyed "
                                       "instead", code="case_closed", status_now=row["status"])
        await queries.update_status(conn, row["id"], "withdrawn")
        await queue.close_case_item(conn, row["id"], "withdrawn_by_source",
                                    day_start(today()))
        fresh = await queries.get_case(conn, row["id"])
        assert fresh is not None
        return await case_view(conn, keyring, fresh, released_only=False)


async def destroy_original(pool: asyncpg.Pool, keyring: KeyRing, receipt: object,
                           client_address: str) -> CaseView:
    """Crypto-shred the case's own key: the original wording, the messages and the review
    drafts become unreadable for ever; the published version (under the room's key) stays."""
    hashes = await _check_receipt(pool, keyring, receipt, client_address)
    async with transaction(pool) as conn:
        row = await _locked(conn, hashes)
        if row["status"] != "published":
            raise ConflictError("Only a published case's original wording can be destroyed",
                                code="case_not_published", status_now=row["status"])
        if row["original_destroyed_on"] is None:
            day = today()
            await keystore.destroy_scope_quietly(conn, keyring.store, case_scope(row["id"]),
                                                 day_start(day))
            await queries.update_original_destroyed(conn, row["id"], day)
        fresh = await queries.get_case(conn, row["id"])
        assert fresh is not None
        return await case_view(conn, keyring, fresh, released_only=False)


# --- what readers may see ---------------------------------------------------------------------

async def disclosed_region(conn: asyncpg.Connection, settings: Settings,
                           region_code: str | None) -> str | None:
    """The region, only if at least DIEF_REGION_K States of it have enabled delegates."""
    if region_code is None:
        return None
    count = await queries.count_states_with_delegates(conn, region_code)
    return region_code if count >= settings.region_k else None


def to_json(view: CaseView) -> dict[str, Any]:
    return {
        "id": str(view.id), "status": view.status, "submitted_on": view.submitted_on.isoformat(),
        **{k: v for k, v in view.analytic.items()},
        "fields": view.sensitive, "original_destroyed": view.original_destroyed,
        "reject_reason": view.reject_reason,
        "messages": [{"seq": m.seq, "from": m.sender, "moderator": m.moderator_name,
                      "body": m.body, "sent_on": m.sent_on.isoformat(),
                      "delivered": m.delivered} for m in view.messages],
    }


def summary_json(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False)
