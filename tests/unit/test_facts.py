"""Fact validation and normalisation, without a database."""

from __future__ import annotations

from uuid import uuid4

import pytest
from pydantic import ValidationError

from service.domain.facts import validate_fact
from service.domain.instants import InstantError, parse_instant


def strike(**overrides: object) -> dict:
    body = {
        "type": "StrikeOccurred",
        "occurred_at": "2020-01-03",
        "summary": "Drone strike at Baghdad airport",
        "actors": [{"id": "us", "role": "perpetrator"}, {"id": "qasem-soleimani", "role": "target"}],
        "means": "drone",
    }
    body.update(overrides)
    return body


def record(body: dict) -> dict:
    fact = validate_fact(body)
    fact.event_id = fact.event_id or uuid4()
    return fact.to_record()


def test_date_only_occurred_at_is_the_start_of_the_day_with_day_precision() -> None:
    rec = record(strike())
    assert rec["occurred_at"] == "2020-01-03T00:00:00.000000Z"
    assert rec["precision"] == "day"


def test_date_time_with_offset_is_converted_to_utc_and_defaults_to_exact() -> None:
    rec = record(strike(occurred_at="2020-01-03T01:00:00+03:00"))
    assert rec["occurred_at"] == "2020-01-02T22:00:00.000000Z"
    assert rec["precision"] == "exact"


def test_explicit_precision_is_kept() -> None:
    assert record(strike(precision="month"))["precision"] == "month"


def test_reported_at_defaults_to_the_earliest_source_publication() -> None:
    rec = record(
        strike(
            sources=[
                {"url": "https://a.example/1", "published_at": "2020-01-04T10:00:00Z"},
                {"url": "https://b.example/2", "published_at": "2020-01-03T09:00:00Z"},
            ]
        )
    )
    assert rec["reported_at"] == "2020-01-03T09:00:00.000000Z"


def test_omitted_and_default_values_normalise_to_the_same_record() -> None:
    event_id = uuid4()
    plain = record(strike(event_id=str(event_id)))
    spelled = record(
        strike(
            event_id=str(event_id).upper(),
            confidence="reported",
            refers_to=[],
            sources=[],
            occurred_until=None,
            fatalities=None,
            precision=None,
        )
    )
    assert plain == spelled


def test_type_specific_fields_of_other_types_are_refused() -> None:
    with pytest.raises(ValidationError) as info:
        validate_fact(strike(mission="nato-mission-iraq"))
    assert info.value.errors()[0]["loc"][-1] == "mission"


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"actors": [{"id": "us", "role": "target"}]}, "needs an actor with role perpetrator"),
        ({"actors": [{"id": "us", "role": "perpetrator"}, {"id": "us", "role": "perpetrator"}]}, "named twice"),
        ({"actors": [{"id": "us", "role": "speaker"}]}, "not one of StrikeOccurred's roles"),
        ({"occurred_until": "2020-01-02"}, "before occurred_at"),
    ],
)
def test_envelope_rules(override: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        validate_fact(strike(**override))


def test_repositioning_needs_an_end() -> None:
    with pytest.raises(ValidationError, match="needs 'from', 'to' or both"):
        validate_fact(
            {
                "type": "PersonnelRepositioned",
                "occurred_at": "2020-01-07",
                "summary": "s",
                "actors": [{"id": "ca", "role": "actor"}],
            }
        )


@pytest.mark.parametrize("value", ["2020-01-07T10:00:00", "07/01/2020", "2020-02-30", "", "0000-01-01"])
def test_instants_refuse_naive_or_malformed_values(value: str) -> None:
    with pytest.raises(InstantError):
        parse_instant(value)


def test_date_only_query_bounds_mean_the_end_of_the_day() -> None:
    assert parse_instant("2020-01-05", date_only_at="end").isoformat() == "2020-01-05T23:59:59.999999+00:00"
