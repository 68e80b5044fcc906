"""The keys the running service holds, loaded once at start-up.

The master key comes from ``DIEF_MASTER_KEY_FILE``; with no file configured, development
installs get ``DIEF_DATA_DIR/master.key`` generated on first run, with a loud warning that
production must supply (and back up) its own. Each purpose gets its own HKDF-derived key; none
is stored in the database. ``repr()`` never shows key material.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from crypto import chain
from crypto.masterkey import KeyFileError, MasterKey, create_master_key_file, load_master_key
from forum.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyRing:
    master: MasterKey = field(repr=False)
    audit_key: bytes = field(repr=False)
    csrf_key: bytes = field(repr=False)
    throttle_key: bytes = field(repr=False)

    @classmethod
    def from_master(cls, master: MasterKey) -> KeyRing:
        return cls(master=master, audit_key=master.derive(chain.LABEL),
                   csrf_key=master.derive("dief/csrf/v1"),
                   throttle_key=master.derive("dief/throttle/v1"))

    def __repr__(self) -> str:
        return f"KeyRing(master_key_id={self.master.key_id!r})"


def load_keyring(settings: Settings) -> KeyRing:
    """Load the master key; generate the development one if none is configured."""
    path = settings.master_key_path()
    if settings.master_key_file is None and not path.exists():
        master = create_master_key_file(path)
        log.warning(
            "GENERATED A DEVELOPMENT MASTER KEY at %s. Production must set "
            "DIEF_MASTER_KEY_FILE to its own key and back it up off this host: without it, "
            "encrypted data and the audit chain cannot be read or verified.", path)
        return KeyRing.from_master(master)
    try:
        return KeyRing.from_master(load_master_key(path))
    except KeyFileError as exc:
        raise KeyFileError(f"DIEF_MASTER_KEY_FILE: {exc}") from None
