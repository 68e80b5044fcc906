"""The keys the running service holds, loaded once at start-up.

The master key comes from ``DIEF_MASTER_KEY_FILE``; with no file configured, development
installs get ``DIEF_DATA_DIR/master.key`` generated on first run, with a loud warning that
production must supply (and back up) its own. Each purpose gets its own HKDF-derived key; none
is stored in the database. ``repr()`` never shows key material.

During a master-key rotation (docs/operations.md) the previous keys are listed in
``DIEF_RETIRED_MASTER_KEY_FILES``: they still unwrap data keys (until ``dief keys rewrap`` has
re-wrapped them all) and still verify the audit entries written under them. New data keys and
new audit entries always use the current key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from crypto import chain
from crypto.keys import LocalKekProvider
from crypto.masterkey import KeyFileError, MasterKey, create_master_key_file, load_master_key
from forum.keystore.service import KeyStore
from forum.settings import Settings

log = logging.getLogger(__name__)


class AuditKey(bytes):
    """The audit-chain MAC key, carrying the id of the master key it was derived from.

    A ``bytes`` subclass so the many call sites that pass ``keyring.audit_key`` need not
    change; ``key_id`` is recorded with each entry so ``verify`` can pick the right key after
    a master-key rotation.
    """

    key_id: str

    @classmethod
    def derive(cls, master: MasterKey) -> AuditKey:
        key = cls(master.derive(chain.LABEL))
        key.key_id = master.key_id
        return key

    def __repr__(self) -> str:
        return f"AuditKey(key_id={self.key_id!r}, key=<redacted>)"


@dataclass(frozen=True)
class KeyRing:
    """The process's keys. Its bindings never change; ``store`` holds the KEK provider and the
    (mutable, bounded) cache of unwrapped data keys."""

    master: MasterKey = field(repr=False)
    retired: tuple[MasterKey, ...] = field(repr=False)
    audit_key: AuditKey = field(repr=False)
    csrf_key: bytes = field(repr=False)
    throttle_key: bytes = field(repr=False)
    store: KeyStore = field(repr=False)

    @classmethod
    def from_master(cls, master: MasterKey, retired: tuple[MasterKey, ...] = ()) -> KeyRing:
        return cls(master=master, retired=retired, audit_key=AuditKey.derive(master),
                   csrf_key=master.derive("dief/csrf/v1"),
                   throttle_key=master.derive("dief/throttle/v1"),
                   store=KeyStore(LocalKekProvider(master, retired)))

    def audit_keys(self) -> dict[str, bytes]:
        """Every audit MAC key we can verify with, by master key id."""
        keys: dict[str, bytes] = {m.key_id: AuditKey.derive(m) for m in self.retired}
        keys[self.master.key_id] = self.audit_key
        return keys

    def __repr__(self) -> str:
        return (f"KeyRing(master_key_id={self.master.key_id!r}, "
                f"retired={[m.key_id for m in self.retired]!r})")


def load_keyring(settings: Settings) -> KeyRing:
    """Load the master key (and retired ones); generate the development key if none is set."""
    path = settings.master_key_path()
    retired: list[MasterKey] = []
    for retired_path in settings.retired_master_key_files:
        try:
            retired.append(load_master_key(retired_path))
        except KeyFileError as exc:
            raise KeyFileError(f"DIEF_RETIRED_MASTER_KEY_FILES: {exc}") from None
    if settings.master_key_file is None and not path.exists():
        master = create_master_key_file(path)
        log.warning(
            "GENERATED A DEVELOPMENT MASTER KEY at %s. Production must set "
            "DIEF_MASTER_KEY_FILE to its own key and back it up off this host: without it, "
            "encrypted data and the audit chain cannot be read or verified.", path)
        return KeyRing.from_master(master, tuple(retired))
    try:
        master = load_master_key(path)
    except KeyFileError as exc:
        raise KeyFileError(f"DIEF_MASTER_KEY_FILE: {exc}") from None
    retired = [m for m in retired if m.key_id != master.key_id]
    return KeyRing.from_master(master, tuple(retired))
