"""crypto.receipts: receipt codes for anonymous submitters and their keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.masterkey import MasterKey
from crypto.receipts import (
    ALPHABET,
    ENTROPY_BITS,
    LENGTH,
    RECEIPT_KEY_LABEL,
    format_receipt,
    new_receipt,
    normalise_receipt,
    receipt_hash,
    receipt_key_for,
)

KEY = bytes(range(32))
DISPLAY = re.compile(r"[A-Z2-9]{5}(-[A-Z2-9]{5}){4}\Z")
CODE = "ABCDEFGHJKLMNPQRSTUVWXYZ2"

codes = st.text(alphabet=ALPHABET, min_size=LENGTH, max_size=LENGTH)


# --- The code space ------------------------------------------------------------------------


def test_at_least_100_bits_of_entropy() -> None:
    assert len(ALPHABET) ** LENGTH >= 2**100
    assert ENTROPY_BITS == pytest.approx(125.0)
    assert math.log2(len(ALPHABET) ** LENGTH) >= 100


def test_alphabet_is_32_unambiguous_symbols() -> None:
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set(ALPHABET) & set("01IO")
    assert ALPHABET == ALPHABET.upper()


def test_new_receipt_display_form() -> None:
    receipt = new_receipt()
    assert DISPLAY.match(receipt), receipt
    assert set(receipt.replace("-", "")) <= set(ALPHABET)
    assert len(receipt.replace("-", "")) == LENGTH


def test_new_receipts_are_unique_and_use_the_whole_alphabet() -> None:
    receipts = [new_receipt() for _ in range(2000)]
    assert len(set(receipts)) == len(receipts)
    counts = Counter("".join(receipts).replace("-", ""))
    assert set(counts) == set(ALPHABET)  # 50,000 draws: each symbol expected ~1,560 times


# --- Reading a code back -------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2",
        "abcde-fghjk-lmnpq-rstuv-wxyz2",
        "ABCDEFGHJKLMNPQRSTUVWXYZ2",
        "abcde fghjk lmnpq rstuv wxyz2",
        "  AbCdE  FGHJK-lmnpq–RSTUV—WXYZ2\n",  # en and em dashes, stray spaces
        "ＡＢＣＤＥ-ＦＧＨＪＫ-ＬＭＮＰＱ-ＲＳＴＵＶ-ＷＸＹＺ２",  # full-width
        "ABCDE-FGHJK-1MNPQ-RSTUV-WXYZ2",  # 1 read as L
        "ABCDE-FGHJK-iMNPQ-RSTUV-WXYZ2",  # I read as L
    ],
)
def test_normalise_accepts_common_ways_of_typing(typed: str) -> None:
    assert normalise_receipt(typed) == CODE


def test_format_receipt() -> None:
    assert format_receipt("abcdefghjklmnpqrstuvwxyz2") == "ABCDE-FGHJK-LMNPQ-RSTUV-WXYZ2"


@settings(max_examples=100, deadline=None, database=None)
@given(code=codes, data=st.data())
def test_any_spelling_of_a_code_normalises_to_it(code: str, data: st.DataObject) -> None:
    spelled = "".join(
        data.draw(st.sampled_from([ch, ch.lower()]))
        + data.draw(st.sampled_from(["", "", " ", "-", "  "]))
        for ch in code
    )
    assert normalise_receipt(spelled) == code
    assert normalise_receipt(format_receipt(spelled)) == code


def test_new_receipt_round_trips() -> None:
    receipt = new_receipt()
    assert format_receipt(receipt.lower()) == receipt


@pytest.mark.parametrize("typed", ["", "ABCDE", CODE[:-1], CODE + "A", CODE * 2])
def test_wrong_length_is_refused(typed: str) -> None:
    with pytest.raises(ValueError, match="25") as info:
        normalise_receipt(typed)
    if len(typed) >= 5:
        assert typed not in str(info.value)


@pytest.mark.parametrize("bad", ["O", "0", "!", "é", "_"])
def test_foreign_characters_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="A-Z") as info:
        normalise_receipt(CODE[:-1] + bad)
    assert CODE[:-1] not in str(info.value)


# --- Keyed hash ----------------------------------------------------------------------------


def test_hash_is_hmac_sha256_of_canonical_code() -> None:
    expected = hmac.new(KEY, CODE.encode(), hashlib.sha256).digest()
    assert receipt_hash(KEY, CODE) == expected
    assert len(expected) == 32


def test_hash_is_stable_across_spellings_and_calls() -> None:
    expected = receipt_hash(KEY, CODE)
    assert receipt_hash(KEY, "abcde fghjk lmnpq rstuv wxyz2") == expected
    assert receipt_hash(KEY, format_receipt(CODE)) == expected
    # Frozen output: stored hashes must keep matching across releases.
    assert receipt_hash(KEY, "abcde fghjk lmnpq rstuv wxyz2").hex() == (
        "bce35d04ee5a99386d26a0297f8f275d1af709c47dca8bddaf140d95ea8bd7a2"
    )


def test_hash_is_keyed() -> None:
    assert receipt_hash(KEY, CODE) != receipt_hash(bytes(reversed(KEY)), CODE)
    assert receipt_hash(KEY, CODE) != hashlib.sha256(CODE.encode()).digest()


def test_different_codes_hash_differently() -> None:
    receipts = [new_receipt() for _ in range(200)]
    assert len({receipt_hash(KEY, r) for r in receipts}) == 200


def test_hash_refuses_short_key_and_bad_code() -> None:
    with pytest.raises(ValueError, match="key"):
        receipt_hash(bytes(16), CODE)
    with pytest.raises(ValueError):
        receipt_hash(KEY, "not a receipt")


def test_receipt_key_is_derived_per_purpose() -> None:
    master = MasterKey(os.urandom(32))
    key = receipt_key_for(master)
    assert RECEIPT_KEY_LABEL == "dief/receipt/v1"
    assert key == master.derive("dief/receipt/v1", 32)
    assert len(key) == 32
    assert key != master.raw
