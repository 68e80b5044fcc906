"""Settings: every variable documented in README.md, defaults parse, bad values are refused with
the variable's name, secrets stay out of ``repr`` (STYLE §4, Datasette ``test_docs.py``)."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from forum import settings as settings_module
from forum.settings import FIELDS, Field, Settings, SettingsError

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SECTION = "## Configuration"


def _render_table() -> str:
    spec = importlib.util.spec_from_file_location(
        "settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    table: str = module.render_table()
    return table


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    assert SECTION + "\n" in text, f"README.md has no '{SECTION}' section"
    section = text.split(SECTION + "\n", 1)[1]
    following = re.search(r"^## ", section, flags=re.MULTILINE)
    return section[:following.start()] if following else section


def _readme_table() -> str:
    return "".join(line + "\n" for line in _readme_section().splitlines()
                   if line.startswith("|"))


# --- documentation ---------------------------------------------------------------------------

def test_every_variable_is_documented_in_readme() -> None:
    documented = re.findall(r"^\| `(DIEF_[A-Z0-9_]+)` \|", _readme_table(), flags=re.MULTILINE)
    declared = [field.env for field in FIELDS]
    missing = sorted(set(declared) - set(documented))
    unknown = sorted(set(documented) - set(declared))
    assert not missing, f"not in README.md's configuration table: {missing}"
    assert not unknown, f"README.md documents variables forum/settings.py does not read: {unknown}"
    assert len(documented) == len(set(documented)), "a variable is documented twice"


def test_readme_table_is_the_generated_one() -> None:
    assert _readme_table() == _render_table(), (
        "README.md's configuration table is stale: replace it with the output of "
        "`.venv/bin/python scripts/settings_table.py`")


def test_fields_are_well_formed() -> None:
    names = [field.name for field in FIELDS]
    envs = [field.env for field in FIELDS]
    assert len(set(names)) == len(names) and len(set(envs)) == len(envs)
    assert set(names) == {f.name for f in Settings.__dataclass_fields__.values()}
    for field in FIELDS:
        assert re.fullmatch(r"DIEF_[A-Z0-9_]+", field.env), field.env
        assert field.help.strip(), f"{field.env} has no help text"


# --- parsing ---------------------------------------------------------------------------------

def test_defaults_parse() -> None:
    settings = Settings.from_env({})
    for field in FIELDS:
        assert field.default is not None, f"{field.env} has no default; update this test"
        assert getattr(settings, field.name) == field.parse(field.default), field.env
    assert settings.database_url is None and settings.master_key_file is None
    assert settings.port == 8080 and settings.languages == ("en", "fr", "es")
    assert settings.trust_proxy is False and settings.demo is False


def _int_bounds(parse: Callable[[str], Any]) -> tuple[int, int] | None:
    """(minimum, maximum) of a parser made by ``settings._parse_int``; None for other parsers."""
    if parse.__qualname__ != "_parse_int.<locals>.parse" or parse.__closure__ is None:
        return None
    cells = dict(zip(parse.__code__.co_freevars,
                     (cell.cell_contents for cell in parse.__closure__), strict=True))
    return cells["minimum"], cells["maximum"]


# Bad values per parser. A parser missing here fails test_every_parser_is_covered, so a new
# kind of setting cannot slip in without its refusal cases.
BAD_VALUES: dict[Callable[[str], Any], list[str]] = {
    settings_module._parse_bool: ["maybe", "2", "", "tru"],
    settings_module._parse_base_url: ["example.org", "ftp://example.org", "", "//example.org"],
    settings_module._parse_languages: ["", "de", "en,de", " , ", "EN"],
    settings_module._parse_log_format: ["xml", "", "yaml"],
    settings_module._parse_path: ["", "   "],
}
# Parsers that accept any text (optional strings and paths, path lists).
ACCEPT_ANYTHING = {settings_module._parse_str, settings_module._parse_optional_str,
                   settings_module._parse_optional_path, settings_module._parse_paths}


def _bad_cases() -> list[tuple[Field, str]]:
    cases: list[tuple[Field, str]] = []
    for field in FIELDS:
        bounds = _int_bounds(field.parse)
        if bounds is not None:
            low, high = bounds
            cases += [(field, v) for v in ("abc", "1.5", "", "0x10", str(low - 1), str(high + 1))]
        else:
            cases += [(field, v) for v in BAD_VALUES.get(field.parse, [])]
    return cases


def test_every_parser_is_covered() -> None:
    for field in FIELDS:
        assert (_int_bounds(field.parse) is not None or field.parse in BAD_VALUES
                or field.parse in ACCEPT_ANYTHING), (
            f"{field.env}: add bad values for its parser to BAD_VALUES")


@pytest.mark.parametrize("field, value", _bad_cases(),
                         ids=lambda case: case.env if isinstance(case, Field) else repr(case))
def test_bad_value_is_refused_naming_the_variable(field: Field, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({field.env: value})
    message = str(caught.value)
    assert message.startswith(field.env), message
    assert "invalid" in message


@pytest.mark.parametrize("field", [f for f in FIELDS if _int_bounds(f.parse)],
                         ids=lambda f: f.env)
def test_integer_bounds_are_inclusive(field: Field) -> None:
    bounds = _int_bounds(field.parse)
    assert bounds is not None
    # DIEF_POOL_MIN must not exceed DIEF_POOL_MAX: hold the other one at its far bound.
    partner = {"DIEF_POOL_MIN": ("DIEF_POOL_MAX", 1), "DIEF_POOL_MAX": ("DIEF_POOL_MIN", 0)}
    for value in bounds:
        environ = {field.env: f" {value} "}
        if field.env in partner:
            other, which = partner[field.env]
            other_bounds = _int_bounds(next(f.parse for f in FIELDS if f.env == other))
            assert other_bounds is not None
            environ[other] = str(other_bounds[which])
        assert getattr(Settings.from_env(environ), field.name) == value


def test_good_values_parse() -> None:
    settings = Settings.from_env({
        "DIEF_BASE_URL": "https://forum.example.org/", "DIEF_TRUST_PROXY": "Yes",
        "DIEF_LANGUAGES": "fr, en", "DIEF_LOG_FORMAT": "JSON", "DIEF_DEMO": "0",
        "DIEF_MASTER_KEY_FILE": "/etc/dief/master.key"})
    assert settings.base_url == "https://forum.example.org" and settings.https
    assert settings.trust_proxy is True and settings.demo is False
    assert settings.languages == ("fr", "en") and settings.log_format == "json"
    assert settings.master_key_path() == Path("/etc/dief/master.key")


def test_the_default_base_url_follows_the_address_served() -> None:
    """Unset, DIEF_BASE_URL is where a local server answers, so that invitation links and
    `make run`'s message point at the right port; `dief serve --host/--port` moves it too,
    and an explicit base URL never moves."""
    assert Settings.from_env({"DIEF_PORT": "8091"}).base_url == "http://127.0.0.1:8091"
    wildcard = "0.0.0.0"  # noqa: S104 - a setting under test, nothing binds here
    assert Settings.from_env({"DIEF_HOST": wildcard}).base_url == "http://127.0.0.1:8080"
    assert Settings.from_env({"DIEF_HOST": "::1", "DIEF_PORT": "9000"}).base_url \
        == "http://[::1]:9000"
    moved = Settings.from_env({}).serving_on("127.0.0.1", 9100)
    assert (moved.port, moved.base_url) == (9100, "http://127.0.0.1:9100")
    public = Settings.from_env({"DIEF_BASE_URL": "https://forum.example.org"})
    assert public.serving_on(wildcard, 9100).base_url == "https://forum.example.org"


def test_pool_min_above_max_is_refused() -> None:
    with pytest.raises(SettingsError, match=r"DIEF_POOL_MIN.*DIEF_POOL_MAX"):
        Settings.from_env({"DIEF_POOL_MIN": "5", "DIEF_POOL_MAX": "4"})


def test_repr_hides_the_database_url() -> None:
    url = "postgresql://dief:hunter2-s3cret@db.internal:5432/dief"
    settings = Settings.from_env({"DIEF_DATABASE_URL": url})
    assert settings.database_url == url
    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert "hunter2" not in shown and "db.internal" not in shown
        assert "database_url=***" in shown
    assert "port=8080" in repr(settings)


def test_secret_fields_are_marked() -> None:
    secret = {field.env for field in FIELDS if field.secret}
    assert "DIEF_DATABASE_URL" in secret
