"""If-None-Match as clients send it, and the validators' rules (service.api.conditional)."""

from __future__ import annotations

import pytest

from service.api.conditional import listed_tags, matches, validators

TAG = '"abc"'


@pytest.mark.parametrize(
    "header",
    ['"abc"', 'W/"abc"', '"x", "abc"', ' "x" ,W/"abc" ', 'W/"x",W/"abc"'],
)
def test_a_listed_tag_matches_weak_or_strong(header: str) -> None:
    assert matches(header, TAG)
    assert matches(header, f"W/{TAG}")


@pytest.mark.parametrize(
    "header",
    [None, "", "abc", '"ab', "W/abc", '"abc" "x"', "*", '"a"bc"', ",", "W/", '"' + "a" * 9000 + '", "abc"'],
)
def test_anything_else_matches_nothing(header: str | None) -> None:
    assert not matches(header, TAG)


def test_star_is_told_apart() -> None:
    assert listed_tags(" * ") == (True, frozenset())
    assert listed_tags('*, "abc"')[0] is False


def test_a_settled_tag_is_strong_and_ignores_the_position() -> None:
    one = validators("/v1/events", b"as_of=2020-01-01", settled=True, position=1, next_due_us=None, private=False)
    two = validators("/v1/events", b"as_of=2020-01-01", settled=True, position=9, next_due_us=None, private=False)
    assert one == two
    assert not one.etag.startswith("W/")
    assert one.cache_control == "public, max-age=31536000, immutable"
    assert one.vary is None


def test_a_current_tag_is_weak_and_follows_the_position_the_query_and_the_next_fact_due() -> None:
    def tag(position: int, query: bytes = b"", due: int | None = None) -> str:
        return validators("/v1/events", query, settled=False, position=position, next_due_us=due, private=True).etag

    assert tag(1).startswith('W/"')
    assert len({tag(1), tag(2), tag(1, b"limit=5"), tag(1, due=10), tag(1, due=11)}) == 5
    private = validators("/v1/events", b"", settled=False, position=1, next_due_us=None, private=True)
    assert private.cache_control == "private, no-cache"
    assert private.vary == "Authorization"
