"""Pins the one error shape (STYLE §3, Datasette ``test_error_shape.py``).

Every ``DomainError`` subclass is raised from a test route and must come out as RFC 9457
``application/problem+json`` for API paths and JSON clients, and as an HTML page for browsers —
with the allow-listed public fields only, never ``log_context``. Unexpected exceptions give a
generic 500 with no exception text and are logged at ERROR with the request id.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from forum import db, errors
from forum.app import create_app
from forum.errors import (
    AuthRequiredError,
    ConflictError,
    DomainError,
    ForbiddenError,
    Label,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ValidationError,
)
from forum.middlewares import RequestIdFilter
from forum.settings import Settings
from tests import conftest
from tests.factories import make_user, sign_in

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SECRET = "LOG-CONTEXT-SECRET-7f3a"
DETAIL = "Look at <b>this</b> & that"
BOOM = "SECRET-EXCEPTION-TEXT select * from users /etc/passwd"

# The pinned contract of forum/errors.py: (status, code, default title).
PINNED: dict[type[DomainError], tuple[int, str, str]] = {
    ValidationError: (422, "invalid_input", "The request is not valid"),
    AuthRequiredError: (401, "auth_required", "Please sign in"),
    ForbiddenError: (403, "forbidden", "You may not do this"),
    NotFoundError: (404, "not_found", "Not found"),
    ConflictError: (409, "conflict", "This conflicts with the current state"),
    PayloadTooLargeError: (413, "payload_too_large", "The request is too large"),
    RateLimitedError: (429, "rate_limited", "Too many attempts; please wait and try again"),
}


def all_error_classes() -> list[type[DomainError]]:
    found: list[type[DomainError]] = []
    pending = list(DomainError.__subclasses__())
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: f"{c.__module__}.{c.__qualname__}")


CLASSES = all_error_classes()


def build(cls: type[DomainError], *, with_detail: bool = True) -> DomainError:
    kwargs: dict[str, Any] = {"log_context": {"secret": SECRET}, "field": "email"}
    if with_detail:
        kwargs["detail"] = DETAIL
    if issubclass(cls, RateLimitedError):
        return cls(30, **kwargs)
    return cls(**kwargs)


def route_name(cls: type[DomainError]) -> str:
    return cls.__qualname__


@pytest.fixture(scope="module")
async def app_client(server_url: str, template_db: str,
                     tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TestClient]:
    """One app for the module: the routes are stateless, and a database per test is slow."""
    settings = Settings.from_env(conftest.test_environ(tmp_path_factory.mktemp("errors")))
    name = await conftest.create_test_database(server_url, template_db)
    app = create_app(settings, database_url=db.with_database(server_url, name))
    by_name = {route_name(cls): cls for cls in CLASSES}

    async def raise_error(request: web.Request) -> web.Response:
        cls = by_name[request.match_info["name"]]
        raise build(cls, with_detail=request.query.get("detail") != "no")

    async def raise_custom(request: web.Request) -> web.Response:
        raise ConflictError("This name is taken", code="name_taken", detail="Pick another",
                            suggestion="name-2", log_context={"secret": SECRET})

    async def raise_unexpected(request: web.Request) -> web.Response:
        raise RuntimeError(BOOM)

    async def raise_with_params(request: web.Request) -> web.Response:
        # The message templates of forum/rooms/service.py's text checks, as they raise them.
        raise ValidationError("%(label)s is too long", detail="at most %(maximum)s characters",
                              params={"label": Label("Title"), "maximum": 200}, field="title",
                              code="title_too_long")

    for prefix in ("/api/test", "/test"):
        app.router.add_get(prefix + "/errors/{name}", raise_error)
        app.router.add_get(prefix + "/custom", raise_custom)
        app.router.add_get(prefix + "/unexpected", raise_unexpected)
        app.router.add_get(prefix + "/params", raise_with_params)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        # Test routes are behind the deny-by-default policy like any other: sign in once.
        user = await make_user(client, role="observer")
        client.session.headers["X-CSRF-Token"] = await sign_in(client, user)
        yield client
    finally:
        await client.close()
        await conftest.drop_test_database(server_url, name)


def test_every_error_class_in_forum_errors_is_pinned() -> None:
    own = {cls for cls in CLASSES if cls.__module__ == errors.__name__}
    assert own == set(PINNED), "pin the shape of new error classes in PINNED"
    for cls, (status, code, title) in PINNED.items():
        assert (cls.status, cls.code, cls.title) == (status, code, title), cls.__name__


def expected_problem(cls: type[DomainError], *, with_detail: bool) -> dict[str, Any]:
    status, code, title = PINNED.get(cls, (cls.status, cls.code, cls.title))
    body: dict[str, Any] = {"type": f"https://dief.invalid/problems/{code}", "title": title,
                            "status": status, "code": code, "field": "email"}
    if with_detail:
        body["detail"] = DETAIL
    return body


@pytest.mark.parametrize("cls", CLASSES, ids=route_name)
@pytest.mark.parametrize("path, accept", [("/api/test", BROWSER), ("/test", "application/json")],
                         ids=["api-path", "json-accept"])
async def test_problem_json_shape(app_client: TestClient, cls: type[DomainError], path: str,
                                  accept: str) -> None:
    for with_detail in (True, False):
        query = "" if with_detail else "?detail=no"
        response = await app_client.get(f"{path}/errors/{route_name(cls)}{query}",
                                        headers={"Accept": accept})
        assert response.status == cls.status
        assert response.content_type == "application/problem+json"
        text = await response.text()
        assert await response.json(content_type=None) == expected_problem(
            cls, with_detail=with_detail)
        assert SECRET not in text and "log_context" not in text
        if issubclass(cls, RateLimitedError):
            assert response.headers["Retry-After"] == "30"
        else:
            assert "Retry-After" not in response.headers


@pytest.mark.parametrize("cls", CLASSES, ids=route_name)
async def test_html_page_for_browsers(app_client: TestClient, cls: type[DomainError]) -> None:
    response = await app_client.get(f"/test/errors/{route_name(cls)}",
                                    headers={"Accept": BROWSER})
    assert response.status == cls.status
    assert response.content_type == "text/html"
    page = await response.text()
    assert page.lstrip().lower().startswith("<!doctype html>")
    assert SECRET not in page and "log_context" not in page
    assert "<b>this</b>" not in page  # detail, if shown, is escaped
    if cls.status == 404:  # errors/404.html: one page for missing and forbidden
        assert "Not found" in page
    else:  # errors/error.html
        assert cls.title in page
        assert "Look at &lt;b&gt;this&lt;/b&gt; &amp; that" in page
        assert f"<code>{cls.code}</code>" in page
    if issubclass(cls, RateLimitedError):
        assert response.headers["Retry-After"] == "30"


async def test_custom_title_code_and_public_fields(app_client: TestClient) -> None:
    response = await app_client.get("/api/test/custom")
    assert response.status == 409
    assert await response.json(content_type=None) == {
        "type": "https://dief.invalid/problems/name_taken", "title": "This name is taken",
        "status": 409, "code": "name_taken", "detail": "Pick another", "suggestion": "name-2"}


async def test_messages_with_numbers_and_names_are_translated_then_filled(
        app_client: TestClient) -> None:
    """A message with params is one catalog entry: English in the API, translated on pages
    (the field's name too, a ``Label``), the numbers filled in after translation."""
    response = await app_client.get("/api/test/params")
    body = await response.json(content_type=None)
    assert (body["title"], body["detail"]) == ("Title is too long", "at most 200 characters")
    for lang, title, detail in (("fr", "Le champ « Titre » est trop long",
                                 "au plus 200 caractères"),
                                ("es", "El campo «Título» es demasiado largo",
                                 "como máximo 200 caracteres"),
                                ("en", "Title is too long", "at most 200 characters")):
        response = await app_client.get("/test/params", headers={
            "Accept": BROWSER, "Accept-Language": lang})
        page = await response.text()
        assert response.status == 422
        assert f"<h1>{title}</h1>" in page and f"<p>{detail}</p>" in page, lang


def test_params_fill_the_english_message_and_only_labels_are_looked_up() -> None:
    exc = ValidationError("%(label)s is required", params={"label": Label("Post"),
                                                           "other": "Post"})
    assert exc.title == "Post is required" and str(exc) == "Post is required"
    assert exc.localized_title(lambda text: {"%(label)s is required": "« %(label)s » manque",
                                             "Post": "Message"}.get(text, text)) \
        == "« Message » manque"
    # Without params a message is taken as it is: a literal "%" stays.
    plain = ConflictError("100% taken", detail="50% left")
    assert (plain.title, plain.detail) == ("100% taken", "50% left")
    assert plain.localized_title(str.upper) == "100% TAKEN"
    assert ValidationError().localized_detail(str.upper) is None


async def test_domain_errors_are_logged_at_info_with_context(
        app_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="forum.errors")
    await app_client.get("/api/test/errors/ConflictError")
    records = [r for r in caplog.records if r.name == "forum.errors"]
    assert [r.levelno for r in records] == [logging.INFO]
    assert SECRET in records[0].getMessage()  # log_context goes to the log, only there


async def test_aiohttp_http_errors_use_the_same_shape(app_client: TestClient) -> None:
    missing = await app_client.get("/api/v1/no-such-thing")
    assert missing.status == 404
    assert await missing.json(content_type=None) == {
        "type": "https://dief.invalid/problems/not_found", "title": "Not found",
        "status": 404, "code": "not_found"}
    wrong_method = await app_client.post("/api/test/custom")
    assert wrong_method.status == 405
    assert (await wrong_method.json(content_type=None))["code"] == "method_not_allowed"
    assert "GET" in wrong_method.headers["Allow"]


@pytest.mark.parametrize("path, accept", [("/api/test/unexpected", "application/json"),
                                          ("/test/unexpected", BROWSER)])
async def test_unexpected_error_is_a_generic_500(app_client: TestClient,
                                                 caplog: pytest.LogCaptureFixture, path: str,
                                                 accept: str) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    response = await app_client.get(path, headers={"Accept": accept,
                                                   "X-Request-ID": "test-request-0001"})
    assert response.status == 500
    assert response.headers["X-Request-ID"] == "test-request-0001"
    text = await response.text()
    for leak in ("SECRET-EXCEPTION-TEXT", "RuntimeError", "Traceback", "select *", "passwd"):
        assert leak not in text
    if path.startswith("/api/"):
        assert response.content_type == "application/problem+json"
        assert await response.json(content_type=None) == {
            "type": "https://dief.invalid/problems/internal_error",
            "title": "Something went wrong", "status": 500, "code": "internal_error"}
    else:
        assert response.content_type == "text/html"
        assert "Something went wrong" in text

    errors_logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors_logged) == 1
    record = errors_logged[0]
    assert record.name == "forum.errors" and record.levelno == logging.ERROR
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert getattr(record, "request_id", None) == "test-request-0001"
