"""The one place that reads the environment.

``Settings.from_env(os.environ)`` is called once, in ``main()`` (or a test fixture), and the
frozen result is passed explicitly (stored under ``keys.SETTINGS``). Every field is declared in
``FIELDS`` with its variable name, parser and help text; a test checks that each variable is
documented in the README, and a bad value stops start-up with a message naming the variable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class SettingsError(Exception):
    """A ``DIEF_*`` variable holds a value we cannot use; the message names it."""


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected one of 1/0, true/false, yes/no, on/off")


def _parse_int(minimum: int, maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise ValueError(f"expected an integer between {minimum} and {maximum}") from None
        if not minimum <= value <= maximum:
            raise ValueError(f"expected an integer between {minimum} and {maximum}")
        return value

    return parse


def _parse_str(text: str) -> str:
    return text.strip()


def _parse_path(text: str) -> Path:
    if not text.strip():
        raise ValueError("expected a file system path")
    return Path(text.strip())


def _parse_optional_path(text: str) -> Path | None:
    return Path(text.strip()) if text.strip() else None


def _parse_paths(text: str) -> tuple[Path, ...]:
    return tuple(Path(part.strip()) for part in text.split(",") if part.strip())


def _parse_optional_str(text: str) -> str | None:
    return text.strip() or None


def _local_url(host: str, port: int) -> str:
    """Where a local ``dief serve`` answers: its own host and port (a development default)."""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding to it
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _parse_base_url(text: str) -> str:
    value = text.strip().rstrip("/")
    if not (value.startswith("http://") or value.startswith("https://")):
        raise ValueError("expected an absolute http:// or https:// URL")
    return value


def _parse_log_format(text: str) -> str:
    value = text.strip().lower()
    if value not in {"text", "json"}:
        raise ValueError("expected 'text' or 'json'")
    return value


def _parse_languages(text: str) -> tuple[str, ...]:
    langs = tuple(part.strip() for part in text.split(",") if part.strip())
    supported = {"en", "fr", "es"}
    if not langs or any(lang not in supported for lang in langs):
        raise ValueError("expected a comma-separated subset of en,fr,es")
    return langs


@dataclass(frozen=True)
class Field:
    name: str  # attribute on Settings
    env: str  # environment variable
    parse: Callable[[str], Any]
    default: str | None  # textual default, parsed like input; None means required
    help: str
    secret: bool = False


FIELDS: tuple[Field, ...] = (
    Field("database_url", "DIEF_DATABASE_URL", _parse_optional_str, "",
          "PostgreSQL URL (postgresql://user:pass@host/db). Unset: start the embedded "
          "PostgreSQL under DIEF_DATA_DIR.", secret=True),
    Field("data_dir", "DIEF_DATA_DIR", _parse_path, "var",
          "Directory for the embedded PostgreSQL cluster and the generated development master "
          "key."),
    Field("master_key_file", "DIEF_MASTER_KEY_FILE", _parse_optional_path, "",
          "File holding the 32-byte master key as one line of base64, mode 0600. Unset: "
          "DIEF_DATA_DIR/master.key is generated on first run (development only)."),
    Field("retired_master_key_files", "DIEF_RETIRED_MASTER_KEY_FILES", _parse_paths, "",
          "Comma-separated files of previous master keys, kept during a key rotation so "
          "data keys and audit entries made under them can still be read "
          "(see docs/operations.md)."),
    Field("base_url", "DIEF_BASE_URL", _parse_base_url, "http://127.0.0.1:8080",
          "Public URL of the service; used in invitation links and to decide Secure cookies "
          "and HSTS (https). Unset: http://DIEF_HOST:DIEF_PORT (127.0.0.1 for a wildcard "
          "host)."),
    Field("host", "DIEF_HOST", _parse_str, "127.0.0.1", "Address `dief serve` binds to."),
    Field("port", "DIEF_PORT", _parse_int(1, 65535), "8080", "Port `dief serve` binds to."),
    Field("pool_min", "DIEF_POOL_MIN", _parse_int(1, 100), "2",
          "Minimum connections in the database pool."),
    Field("pool_max", "DIEF_POOL_MAX", _parse_int(1, 200), "10",
          "Maximum connections in the database pool."),
    Field("statement_timeout_ms", "DIEF_STATEMENT_TIMEOUT_MS", _parse_int(100, 600_000), "15000",
          "statement_timeout set on every application connection, in milliseconds."),
    Field("argon2_time_cost", "DIEF_ARGON2_TIME_COST", _parse_int(1, 20), "3",
          "argon2id iterations (RFC 9106 second recommended option: 3)."),
    Field("argon2_memory_kib", "DIEF_ARGON2_MEMORY_KIB", _parse_int(8, 4_194_304), "65536",
          "argon2id memory in KiB (RFC 9106 second recommended option: 65536 = 64 MiB)."),
    Field("argon2_parallelism", "DIEF_ARGON2_PARALLELISM", _parse_int(1, 16), "4",
          "argon2id lanes."),
    Field("max_concurrent_hashes", "DIEF_MAX_CONCURRENT_HASHES", _parse_int(1, 64), "2",
          "Password hashes computed at once; bounds CPU and memory under a sign-in flood "
          "(each costs DIEF_ARGON2_MEMORY_KIB)."),
    Field("session_idle_minutes", "DIEF_SESSION_IDLE_MINUTES", _parse_int(5, 10_080), "120",
          "A session unused for this long ends."),
    Field("session_absolute_hours", "DIEF_SESSION_ABSOLUTE_HOURS", _parse_int(1, 720), "12",
          "A session ends this long after sign-in, however active."),
    Field("invitation_days", "DIEF_INVITATION_DAYS", _parse_int(1, 30), "7",
          "Days an invitation link stays valid."),
    Field("login_max_per_account", "DIEF_LOGIN_MAX_PER_ACCOUNT", _parse_int(1, 1000), "5",
          "Failed sign-ins allowed per email within DIEF_LOGIN_WINDOW_MINUTES."),
    Field("login_max_per_client", "DIEF_LOGIN_MAX_PER_CLIENT", _parse_int(1, 10_000), "20",
          "Failed sign-ins allowed per client address within DIEF_LOGIN_WINDOW_MINUTES."),
    Field("login_window_minutes", "DIEF_LOGIN_WINDOW_MINUTES", _parse_int(1, 1440), "15",
          "Window for the sign-in throttles."),
    Field("max_body_bytes", "DIEF_MAX_BODY_BYTES", _parse_int(1024, 64 * 1024 * 1024),
          str(1024 * 1024), "Largest request body accepted, in bytes."),
    Field("posts_per_minute", "DIEF_POSTS_PER_MINUTE", _parse_int(1, 1000), "10",
          "Posts (and new threads) one account may write per minute."),
    Field("region_k", "DIEF_REGION_K", _parse_int(1, 50), "3",
          "A case's region is shown only when at least this many States of the region have "
          "an enabled delegate account; otherwise it reads 'undisclosed'."),
    Field("case_batch_hours", "DIEF_CASE_BATCH_HOURS", _parse_int(1, 168), "6",
          "New cases and sources' answers reach the moderators' queue in batches, this many "
          "hours apart, in random order (`dief cases release` releases one now)."),
    Field("four_eyes", "DIEF_FOUR_EYES", _parse_bool, "true",
          "Publishing a case needs a second moderator, other than the one who approved it."),
    Field("flag_hide_threshold", "DIEF_FLAG_HIDE_THRESHOLD", _parse_int(0, 100), "3",
          "A post with this many open flags is hidden pending review (0: never automatically)."),
    Field("trust_proxy", "DIEF_TRUST_PROXY", _parse_bool, "false",
          "Take the client address from X-Forwarded-For (only behind your own reverse proxy)."),
    Field("languages", "DIEF_LANGUAGES", _parse_languages, "en,fr,es",
          "Interface languages offered, first is the default."),
    Field("log_format", "DIEF_LOG_FORMAT", _parse_log_format, "text",
          "Log format: 'text' for development, 'json' for production (one JSON object a line)."),
    Field("demo", "DIEF_DEMO", _parse_bool, "false",
          "Demo mode: the sign-in page shows the demo accounts. Never in production."),
)


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    data_dir: Path
    master_key_file: Path | None
    retired_master_key_files: tuple[Path, ...]
    base_url: str
    host: str
    port: int
    pool_min: int
    pool_max: int
    statement_timeout_ms: int
    argon2_time_cost: int
    argon2_memory_kib: int
    argon2_parallelism: int
    max_concurrent_hashes: int
    session_idle_minutes: int
    session_absolute_hours: int
    invitation_days: int
    login_max_per_account: int
    login_max_per_client: int
    login_window_minutes: int
    max_body_bytes: int
    posts_per_minute: int
    region_k: int
    case_batch_hours: int
    four_eyes: bool
    flag_hide_threshold: int
    trust_proxy: bool
    languages: tuple[str, ...]
    log_format: str
    demo: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for field in FIELDS:
            raw = environ.get(field.env)
            text = raw if raw is not None else field.default
            if text is None:
                raise SettingsError(f"{field.env} is required: {field.help}")
            try:
                values[field.name] = field.parse(text)
            except ValueError as exc:
                shown = "(hidden)" if field.secret else repr(text)
                raise SettingsError(f"{field.env}={shown} is invalid: {exc}") from None
        if environ.get("DIEF_BASE_URL") is None:
            values["base_url"] = _local_url(values["host"], values["port"])
        settings = cls(**values)
        if settings.pool_min > settings.pool_max:
            raise SettingsError("DIEF_POOL_MIN must not exceed DIEF_POOL_MAX")
        return settings

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def serving_on(self, host: str, port: int) -> Settings:
        """These settings for a server on ``host:port`` (``dief serve --host/--port``): a base
        URL that was the local default for the old address follows to the new one."""
        base_url = self.base_url
        if base_url == _local_url(self.host, self.port):
            base_url = _local_url(host, port)
        return self.replace(host=host, port=port, base_url=base_url)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    def master_key_path(self) -> Path:
        return self.master_key_file or self.data_dir / "master.key"

    def __repr__(self) -> str:
        shown = []
        for field in FIELDS:
            value = "***" if field.secret else repr(getattr(self, field.name))
            shown.append(f"{field.name}={value}")
        return f"Settings({', '.join(shown)})"
