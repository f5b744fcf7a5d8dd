"""The stored users a full read is given, taken out as it reads them: what is left, what
they add up to, and the memory of the table once most are out."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from directories.sync.incremental import StoredUsers


@given(
    st.integers(min_value=0, max_value=9_000),
    st.floats(min_value=0, max_value=1),
    st.randoms(use_true_random=False),
)
def test_taking_users_leaves_those_not_taken_and_counts_every_one(size, share, rng):
    stored = StoredUsers((f"u{n}", f"fp{n}") for n in range(size))
    left = {f"u{n}": f"fp{n}" for n in range(size)}
    # Most of them in any order, and some the store does not hold.
    order = [*range(size), *range(size, size + 50)]
    rng.shuffle(order)
    for n in order[: round(len(order) * share)]:
        assert stored.take(f"u{n}") == left.pop(f"u{n}", None)
    assert dict(stored) == left
    assert (stored.total, stored.taken) == (size, size - len(left))


def filled_at_once(pairs):
    return StoredUsers(pairs)


def filled_one_by_one(pairs):
    """As `Base.load` fills them, from the rows of an incremental read's base."""
    stored = StoredUsers()
    for ext, fp in pairs:
        stored[ext] = fp
    return stored


@pytest.mark.parametrize("fill", [filled_at_once, filled_one_by_one])
def test_the_table_shrinks_as_users_are_taken_out(fill):
    stored = fill((f"u{n}", "f" * 32) for n in range(100_000))
    plain = dict(stored)
    for n in range(99_000):
        stored.take(f"u{n}")
        plain.pop(f"u{n}")
    # A dict keeps the table of its largest size; the stored users one for what is left.
    assert sys.getsizeof(stored) * 20 < sys.getsizeof(plain)
    assert dict(stored) == plain
