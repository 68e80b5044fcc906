"""One door for cryptography (STYLE §9): only ``crypto/`` imports a primitives library, and
``crypto/`` itself stays pure (no web framework, no database driver, no application code).

Imports are read with ``ast``, so a module cannot hide one behind a conditional or a function
body; ``importlib.import_module("...")`` and ``__import__("...")`` with a literal name count
too.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED_PACKAGES = ("forum", "moderation", "bench")

# Libraries that provide cryptographic primitives.
PRIMITIVES = frozenset({"cryptography", "argon2", "hmac", "hashlib", "nacl", "Crypto",
                        "Cryptodome", "blake3", "bcrypt", "passlib", "jwt", "jose"})

# (file, module) pairs allowed to import a primitive anyway, each with its reason. An entry
# that is no longer needed fails test_allow_list_is_not_stale, so the list only shrinks.
ALLOWED: dict[tuple[str, str], str] = {
    ("forum/migrate.py", "hashlib"):
        "SHA-256 of each migration file is a change detector recorded in schema_migrations "
        "(like git's object ids), not a security control: no key, no secret, nothing to "
        "review as cryptography; importing crypto/ from the migration runner would only add "
        "a dependency to the deploy step.",
}

# What crypto/ must never import.
CRYPTO_FORBIDDEN = frozenset({"aiohttp", "aiohttp_jinja2", "asyncpg", "jinja2", "forum",
                              "moderation", "bench"})


def python_files(*packages: str) -> Iterator[Path]:
    for package in packages:
        directory = ROOT / package
        if directory.is_dir():
            yield from sorted(directory.rglob("*.py"))


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level module name) of every absolute import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else (
                func.id if isinstance(func, ast.Name) else "")
            first = node.args[0]
            if name in {"import_module", "__import__"} and isinstance(first, ast.Constant) \
                    and isinstance(first.value, str):
                yield node.lineno, first.value.split(".")[0]


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_only_crypto_imports_primitives() -> None:
    offences = []
    for path in python_files(*CHECKED_PACKAGES):
        for line, module in imported_modules(path):
            if module in PRIMITIVES and (relative(path), module) not in ALLOWED:
                offences.append(f"{relative(path)}:{line} imports {module}")
    assert not offences, (
        "only crypto/ may import cryptographic primitives; move the operation into crypto/ "
        "and call it from there:\n" + "\n".join(offences))


def test_allow_list_is_not_stale() -> None:
    for (file, module), reason in ALLOWED.items():
        assert reason.strip()
        path = ROOT / file
        assert path.exists() and module in {m for _, m in imported_modules(path)}, (
            f"{file} no longer imports {module}: remove it from ALLOWED")


def test_crypto_is_pure() -> None:
    offences = []
    files = list(python_files("crypto"))
    assert files, "crypto/ not found"
    for path in files:
        for line, module in imported_modules(path):
            if module in CRYPTO_FORBIDDEN:
                offences.append(f"{relative(path)}:{line} imports {module}")
    assert not offences, "crypto/ must stay pure (no web, SQL or app code):\n" + "\n".join(
        offences)


def test_the_checker_sees_hidden_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "from hmac import compare_digest\n"
        "def f():\n"
        "    import hashlib as h\n"
        "    return __import__('argon2')\n"
        "import importlib\n"
        "importlib.import_module('cryptography.fernet')\n"
        "from . import sibling\n")
    assert sorted(m for _, m in imported_modules(sample)) == [
        "argon2", "cryptography", "hashlib", "hmac", "importlib", "os"]
