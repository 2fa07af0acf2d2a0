"""A from/to window splits into the whole days the tallies count and the partial edge days the scan counts."""

from __future__ import annotations

from datetime import date

from service.domain.instants import parse_instant, to_micros
from service.readmodels.tallies import day_number
from service.readmodels.tally_reads import split_window


def _us(text: str, end: bool = False) -> int:
    return to_micros(parse_instant(text, date_only_at="end" if end else "start"))


def _day(text: str) -> int:
    return date.fromisoformat(text).toordinal() - 1


def test_the_numbering_is_the_scans_also_before_1970() -> None:
    assert day_number(_us("1969-12-31T23:59:59Z")) == _day("1969-12-31")
    assert day_number(_us("1970-01-01T00:00:00Z")) == _day("1970-01-01")
    assert day_number(_us("1900-03-01T06:00:00Z")) == _day("1900-03-01")


def test_no_window_is_every_day() -> None:
    assert split_window(None, None) == ((None, None), [])


def test_whole_days_have_no_edges() -> None:
    days, edges = split_window(_us("1969-12-31"), _us("1970-01-02", end=True))
    assert (days, edges) == ((_day("1969-12-31"), _day("1970-01-02")), [])


def test_an_edge_inside_a_day_is_left_to_the_scan() -> None:
    lower, upper = _us("1969-12-30T12:00:00Z"), _us("1970-01-02T06:00:00Z")
    days, edges = split_window(lower, upper)
    assert days == (_day("1969-12-31"), _day("1970-01-01"))
    assert edges == [(lower, _us("1969-12-30", end=True)), (_us("1970-01-02"), upper)]


def test_a_window_inside_one_day_is_all_edge() -> None:
    lower, upper = _us("2020-01-01T06:00:00Z"), _us("2020-01-01T18:00:00Z")
    assert split_window(lower, upper) == (None, [(lower, upper)])
    assert split_window(upper, lower) == (None, [])


def test_an_open_end_with_a_partial_start() -> None:
    lower = _us("2020-01-01T06:00:00Z")
    assert split_window(lower, None) == ((_day("2020-01-02"), None), [(lower, _us("2020-01-01", end=True))])
    upper = _us("2020-01-01T06:00:00Z")
    assert split_window(None, upper) == ((None, _day("2019-12-31")), [(_us("2020-01-01"), upper)])
