"""English, French and Spanish: complete catalogues, intact placeholders, language choice.

The extraction tests run ``scripts/i18n.py``'s extractor in-process, so a string added to a
template, to a ``_()`` call or to a ``DomainError`` without a French and Spanish translation
fails here (fix: ``scripts/i18n.py extract``, translate, ``scripts/i18n.py check``).
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from forum.i18n import Catalogs

ROOT = Path(__file__).resolve().parents[1]
LANGUAGES = ("fr", "es")


def _load_script() -> ModuleType:
    name = "dief_scripts_i18n"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "i18n.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def extraction(script: ModuleType) -> Any:
    return script.extract()


@pytest.fixture(scope="module")
def catalogues(script: ModuleType) -> dict[str, Any]:
    loaded: dict[str, Any] = script.load_catalogues()
    return loaded


def _texts(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


# --- (a) extraction finds nothing missing -----------------------------------------------------

def test_templates_have_no_untranslatable_calls(extraction: Any) -> None:
    assert extraction.errors == []


def test_extraction_sees_every_kind_of_source(extraction: Any) -> None:
    ids = {message.id for message in extraction.template if message.id}
    expected = {
        "Sign in",  # template
        "Welcome, %(name)s",  # template, with a placeholder
        "This invitation has already been used",  # ConflictError("…") in a service
        "The email, password or code is not right",  # AuthRequiredError(_CONSTANT)
        "too many failed sign-ins; try again later",  # detail="…"
        "The request is not valid",  # class attribute title = "…"
        "Method not allowed",  # a value of _HTTP_TITLES
        "delegate", "observer",  # forum/i18n_terms.py lazy_gettext
    }
    assert expected <= ids, sorted(expected - ids)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_msgid_is_translated(extraction: Any, catalogues: dict[str, Any],
                                   lang: str) -> None:
    catalog = catalogues[lang]
    assert catalog is not None, f"no {lang} catalogue"
    problems = []
    for wanted in extraction.template:
        if not wanted.id:
            continue
        found = catalog.get(wanted.id, wanted.context)
        label = _texts(wanted.id)[0]
        if found is None:
            problems.append(f"missing: {label!r}")
        elif not _texts(found.string) or not all(_texts(found.string)):
            problems.append(f"untranslated: {label!r}")
        elif found.fuzzy:
            problems.append(f"fuzzy: {label!r}")
    assert problems == [], (f"{len(problems)} {lang} problems; run `.venv/bin/python "
                            "scripts/i18n.py extract`, translate, then `… check`")


def test_check_command_passes(script: ModuleType, extraction: Any,
                              catalogues: dict[str, Any]) -> None:
    assert script.translation_problems(extraction.template, catalogues) == []


def test_every_role_is_marked_for_translation() -> None:
    from forum.auth.service import ROLES
    from forum.i18n_terms import ROLE_NAMES

    assert set(ROLES) <= set(ROLE_NAMES)


def test_error_collector_reads_constructors_attributes_and_constants(script: ModuleType) -> None:
    from babel.messages.catalog import Catalog

    source = '''
_TEXT = "From a constant"
class DomainError(Exception):
    title = "Base title"
class SpecialError(DomainError):
    title = "Special title"
def f(n):
    raise SpecialError("Positional title", detail="A detail", code="x")
    raise DomainError(title="Keyword title")
    raise SpecialError(_TEXT)
    raise SpecialError(f"{n} dynamic")
    raise ValueError("Not a domain error")
_HTTP_TITLES = {404: "HTTP title"}
'''
    tree = ast.parse(source)
    catalog = Catalog()
    notes: list[str] = []
    classes = script._error_classes({Path("x.py"): tree})
    collector = script._ErrorCollector(catalog, notes)
    collector.collect(ROOT / "forum" / "example.py", tree, classes)
    assert {m.id for m in catalog if m.id} == {
        "Base title", "Special title", "Positional title", "A detail", "Keyword title",
        "From a constant", "HTTP title"}
    assert len(notes) == 1 and "f-string" in notes[0]


# --- (b) placeholders -------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_placeholders(script: ModuleType, catalogues: dict[str, Any],
                                        lang: str) -> None:
    bad = []
    for message in catalogues[lang]:
        if not message.id:
            continue
        ids = _texts(message.id)
        for index, text in enumerate(_texts(message.string)):
            if not text:
                continue
            source = ids[min(index, len(ids) - 1)]
            if script.placeholders(text) != script.placeholders(source):
                bad.append((source, text))
    assert bad == []


def test_placeholders_helper() -> None:
    placeholders = _load_script().placeholders
    assert placeholders("Welcome, %(name)s") == ["%(name)s"]
    assert placeholders("100%% sure, %(n)d") == ["%%", "%(n)d"]
    assert placeholders("à 100 % sûr") != []  # a bare % would break newstyle %-formatting


def test_compiled_catalogues_format_at_run_time() -> None:
    catalogs = Catalogs(("en", "fr", "es"))
    assert catalogs.get("fr").gettext("Welcome, %(name)s") % {"name": "Ana"} == "Bienvenue, Ana"
    assert (catalogs.get("es").gettext("Welcome, %(name)s") % {"name": "Ana"}
            == "Le damos la bienvenida, Ana")
    assert catalogs.get("fr").gettext("delegate") == "délégué"
    assert catalogs.get("es").gettext("State") == "Estado"
    assert catalogs.get("en").gettext("Sign in") == "Sign in"


# --- (c) Accept-Language negotiation ----------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    ("fr-FR,fr;q=0.9", "fr"),
    ("es-419", "es"),
    ("de", "en"),
    ("", "en"),
    ("FR-ca", "fr"),
    ("de-DE, es;q=0.8, fr;q=0.5", "es"),
    ("fr;q=0.4, es;q=0.9", "es"),
    ("fr;q=0, es;q=0.1", "es"),
    ("fr;q=0", "en"),
    ("es;q=0.0, *;q=0.5", "en"),
    ("!!garbage;;q=abc,,;", "en"),
    ("fr;q=abc", "en"),
    ("\x00\x01ÿ", "en"),
])
def test_negotiate(header: str, expected: str) -> None:
    assert Catalogs(("en", "fr", "es")).negotiate(header) == expected


# --- (d) over HTTP ----------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "lang", "sign_in"), [
    ("fr-FR,fr;q=0.9,en;q=0.5", "fr", "Se connecter"),
    ("es-419,es;q=0.9", "es", "Iniciar sesión"),
    ("de-DE", "en", "Sign in"),
])
async def test_signin_page_follows_accept_language(client: TestClient, accept: str, lang: str,
                                                   sign_in: str) -> None:
    response = await client.get("/signin", headers={"Accept-Language": accept})
    assert response.status == 200
    html = await response.text()
    assert f'<html lang="{lang}">' in html
    assert f"<h1>{sign_in}</h1>" in html


async def test_language_form_sets_cookie_that_later_pages_follow(client: TestClient) -> None:
    response = await client.post("/language", data={"language": "es", "next": "/signin"},
                                 allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/signin"
    assert response.cookies["dief_lang"].value == "es"

    # The cookie outranks the browser's Accept-Language.
    page = await client.get("/signin", headers={"Accept-Language": "fr"})
    html = await page.text()
    assert '<html lang="es">' in html
    assert "Iniciar sesión" in html

    await client.post("/language", data={"language": "fr", "next": "/signin"})
    html = await (await client.get("/signin", headers={"Accept-Language": "es"})).text()
    assert '<html lang="fr">' in html and "Se connecter" in html


async def test_language_form_rejects_unknown_language(client: TestClient) -> None:
    response = await client.post("/language", data={"language": "de"}, allow_redirects=False)
    assert response.status == 422
    assert "dief_lang" not in response.cookies


async def test_domain_error_titles_are_translated(client: TestClient) -> None:
    response = await client.post(
        "/signin", data={"email": "nobody@example.org", "password": "not the password"},
        headers={"Accept-Language": "fr"})
    assert response.status == 401
    html = await response.text()
    assert "le mot de passe ou le code est incorrect" in html


async def test_error_page_is_translated(client: TestClient) -> None:
    response = await client.get("/no-such-page", headers={"Accept-Language": "es",
                                                           "Accept": "text/html"})
    assert response.status == 404
    html = await response.text()
    assert '<html lang="es">' in html
    assert "Volver a la página de inicio" in html
