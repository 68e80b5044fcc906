"""crypto.blind_index: normalisation, keyed HMAC indexes and per-index keys."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.blind_index import (
    DEFAULT_LENGTH,
    INDEX_KEY_LABEL_PREFIX,
    Kind,
    blind_index,
    index_key_for,
    normalise,
)
from crypto.masterkey import MasterKey

KEY = bytes(range(32))
KINDS: list[Kind] = ["name", "docref"]


@pytest.fixture
def master() -> MasterKey:
    return MasterKey(os.urandom(32))


# --- normalise -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("ACME Trading Co", "acme trading co"),
        ("  acme\t trading\n\nCO ", "acme trading co"),
        ("ACME\u00a0Trading\u2003Co", "acme trading co"),  # no-break and em spaces
        ("ＡＣＭＥ Trading Co", "acme trading co"),  # full-width letters
        ("AC\u200bME Trading Co\ufeff", "acme trading co"),  # zero-width space, BOM
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("Müller", "müller"),
        ("ACME Ltd.", "acme ltd."),
    ],
)
def test_normalise_name(variant: str, expected: str) -> None:
    assert normalise(variant, kind="name") == expected


def test_normalise_defaults_to_name() -> None:
    assert normalise(" A  B ") == "a b"


def test_name_keeps_punctuation_and_accents() -> None:
    assert normalise("ACME Ltd.", kind="name") != normalise("ACME Ltd", kind="name")
    assert normalise("Müller", kind="name") != normalise("Muller", kind="name")


@pytest.mark.parametrize(
    "variant",
    ["EUC 2023/14-B", "euc2023 14b", "EUC-2023-14-B", "euc.2023.14.b", "ＥＵＣ２０２３／１４Ｂ"],
)
def test_normalise_docref(variant: str) -> None:
    assert normalise(variant, kind="docref") == "euc202314b"


def test_docref_does_not_merge_look_alikes() -> None:
    assert normalise("LIC-O1", kind="docref") != normalise("LIC-01", kind="docref")


@pytest.mark.parametrize(
    ("value", "kind"),
    [("", "name"), ("   \t", "name"), ("\u200b", "name"), ("", "docref"), (" -/. ", "docref")],
)
def test_empty_after_normalisation_is_refused(value: str, kind: Kind) -> None:
    with pytest.raises(ValueError, match="empty"):
        normalise(value, kind=kind)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        normalise("x", kind="email")  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None, database=None)
@given(value=st.text(), kind=st.sampled_from(KINDS))
def test_normalise_is_idempotent(value: str, kind: Kind) -> None:
    try:
        once = normalise(value, kind=kind)
    except ValueError:
        return
    assert normalise(once, kind=kind) == once


# --- blind_index ---------------------------------------------------------------------------


def test_index_is_truncated_hmac_sha256_of_normalised_value() -> None:
    expected = hmac.new(KEY, b"acme trading co", hashlib.sha256).digest()[:16]
    assert blind_index(KEY, "  ACME  Trading CO", kind="name") == expected


# Frozen outputs: if normalisation or the construction changes, stored indexes stop matching.
# Changing these constants needs a new index version and a re-index, not an edit.
@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        ("  ACME   Trading ", "name", "58684d4aee23ef8bb98eb42765d41cfa"),
        ("EUC 2023/14-B", "docref", "a1cf4594209dbf767146d4b822a6326b"),
    ],
)
def test_golden_indexes(value: str, kind: Kind, expected: str) -> None:
    assert blind_index(KEY, value, kind=kind).hex() == expected


def test_equal_after_normalisation() -> None:
    assert blind_index(KEY, "ACME Trading", kind="name") == blind_index(
        KEY, " acme  TRADING ", kind="name"
    )
    assert blind_index(KEY, "EUC 2023/14-B", kind="docref") == blind_index(
        KEY, "euc202314b", kind="docref"
    )
    assert blind_index(KEY, "ACME Trading", kind="name") != blind_index(
        KEY, "ACME Tradin", kind="name"
    )


@settings(max_examples=100, deadline=None, database=None)
@given(value=st.text(min_size=1), kind=st.sampled_from(KINDS))
def test_index_of_normalised_value_is_the_same(value: str, kind: Kind) -> None:
    try:
        canonical = normalise(value, kind=kind)
    except ValueError:
        return
    assert blind_index(KEY, value, kind=kind) == blind_index(KEY, canonical, kind=kind)


def test_different_keys_give_different_indexes() -> None:
    other = bytes(reversed(KEY))
    assert blind_index(KEY, "ACME", kind="name") != blind_index(other, "ACME", kind="name")


def test_default_length_and_explicit_lengths() -> None:
    assert DEFAULT_LENGTH == 16
    assert len(blind_index(KEY, "ACME", kind="name")) == 16
    full = blind_index(KEY, "ACME", kind="name", length=32)
    assert len(full) == 32
    assert blind_index(KEY, "ACME", kind="name", length=8) == full[:8]


@pytest.mark.parametrize("length", [0, 3, 33, -1])
def test_length_out_of_range_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="length"):
        blind_index(KEY, "ACME", kind="name", length=length)


def test_short_index_key_is_refused() -> None:
    with pytest.raises(ValueError, match="key"):
        blind_index(bytes(16), "ACME", kind="name")


# --- index_key_for -------------------------------------------------------------------------


def test_index_key_is_hkdf_of_named_label(master: MasterKey) -> None:
    key = index_key_for(master, "cases.entity_name")
    assert INDEX_KEY_LABEL_PREFIX == "dief/blind-index/v1/"
    assert key == master.derive("dief/blind-index/v1/cases.entity_name", 32)
    assert len(key) == 32
    assert index_key_for(master, "cases.entity_name") == key


def test_each_index_has_its_own_key(master: MasterKey) -> None:
    names = index_key_for(master, "cases.entity_name")
    docs = index_key_for(master, "cases.document_ref")
    assert names != docs
    assert blind_index(names, "X1", kind="docref") != blind_index(docs, "X1", kind="docref")
    assert index_key_for(MasterKey(os.urandom(32)), "cases.entity_name") != names


@pytest.mark.parametrize("name", ["", "Cases.Name", "cases name", "-x", "a" * 64, "é"])
def test_bad_index_names_are_refused(master: MasterKey, name: str) -> None:
    with pytest.raises(ValueError, match="index_name"):
        index_key_for(master, name)
