"""ACLED rows mapped onto our facts, without a database: types, dates, precision, places, actors."""

from __future__ import annotations

import pytest

from service.domain.facts import validate_fact
from service.formats.acled import AcledRowError, acled_event_id, acled_fact
from tests.support.acled import acled

# --- the mapping, without a database ------------------------------------------------


def test_an_acled_drone_strike_becomes_a_strike_with_perpetrator_target_place_and_day() -> None:
    fact = validate_fact(acled_fact(acled())).to_record()
    assert fact["event_id"] == str(acled_event_id("IRQ46580"))
    assert fact["type"] == "StrikeOccurred"
    assert fact["means"] == "drone"
    assert fact["fatalities"] == 10
    assert fact["precision"] == "day"
    assert fact["occurred_at"].startswith("2020-01-03T00:00:00")
    assert fact["actors"] == [
        {"id": "military-forces-of-the-united-states", "role": "perpetrator"},
        {"id": "military-forces-of-iran", "role": "target"},
        {"id": "kataib-hezbollah", "role": "target"},
        {"id": "popular-mobilization-forces", "role": "target"},
    ]
    assert fact["location"] == {
        "name": "Baghdad International Airport",
        "country": "IQ",
        "lat": 33.2625,
        "lon": 44.2346,
    }
    assert fact["sources"][0]["url"] == "https://acleddata.com/"
    assert fact["sources"][0]["publisher"] == "ACLED: Reuters; Al Jazeera"
    assert fact["reported_at"] == fact["sources"][0]["published_at"] == "2020-01-14T11:06:40.000000Z"
    assert fact["confidence"] == "reported"


@pytest.mark.parametrize(("precision", "expected"), [("1", "day"), ("2", "week"), ("3", "month")])
def test_time_precision_maps_to_day_week_month(precision: str, expected: str) -> None:
    assert acled_fact(acled(time_precision=precision))["precision"] == expected


@pytest.mark.parametrize("date", ["2020-01-03", "03 January 2020", "3-January-2020"])
def test_acled_date_forms(date: str) -> None:
    assert acled_fact(acled(event_date=date))["occurred_at"] == "2020-01-03"


@pytest.mark.parametrize(
    ("event_type", "sub_type", "notes", "kind", "means"),
    [
        ("Explosions/Remote violence", "Air/drone strike", "Aircraft bombed a convoy.", "StrikeOccurred", "air"),
        ("Explosions/Remote violence", "Air/drone strike", "A UAV fired on a car.", "StrikeOccurred", "drone"),
        (
            "Explosions/Remote violence",
            "Shelling/artillery/missile attack",
            "Rockets hit the base.",
            "StrikeOccurred",
            "missile",
        ),
        (
            "Explosions/Remote violence",
            "Shelling/artillery/missile attack",
            "Mortar fire.",
            "StrikeOccurred",
            "artillery",
        ),
        ("Explosions/Remote violence", "Remote explosive/landmine/IED", "An IED.", "StrikeOccurred", "other"),
        ("Battles", "Armed clash", "Clashes.", "StrikeOccurred", "other"),
        ("Violence against civilians", "Attack", "Gunmen attacked.", "StrikeOccurred", "other"),
        ("Strategic developments", "Agreement", "Both sides agreed a ceasefire.", "StatementIssued", None),
    ],
)
def test_event_types_map_onto_ours(event_type: str, sub_type: str, notes: str, kind: str, means: str | None) -> None:
    fact = validate_fact(acled_fact(acled(event_type=event_type, sub_event_type=sub_type, notes=notes))).to_record()
    assert fact["type"] == kind
    if kind == "StatementIssued":
        assert (fact["text"], fact["channel"]) == (notes, "other")
        assert {a["role"] for a in fact["actors"]} == {"speaker", "addressee"}
    else:
        assert fact["means"] == means


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        ({"event_type": "Protests", "sub_event_type": "Peaceful protest"}, "event_type", "no counterpart"),
        (
            {"event_type": "Strategic developments", "sub_event_type": "Headquarters or base established"},
            "event_type",
            "troop count",
        ),
        ({"event_date": "2020-13-45"}, "event_date", "not a date"),
        ({"latitude": "north"}, "latitude", "not a number"),
        ({"longitude": "200"}, "longitude", "between"),
        ({"fatalities": "-3"}, "fatalities", "negative"),
        ({"event_id_cnty": ""}, "event_id_cnty", "missing"),
        ({"time_precision": "7"}, "time_precision", "7"),
        ({"iso": "999", "country": "Atlantis"}, "iso", "999"),
        ({"timestamp": "yesterday"}, "timestamp", "Unix time"),
    ],
)
def test_rows_that_cannot_be_facts_name_the_acled_column(cells: dict[str, str], field: str, reason: str) -> None:
    with pytest.raises(AcledRowError) as caught:
        acled_fact(acled(**cells))
    assert caught.value.field == field
    assert reason in str(caught.value)


@pytest.mark.parametrize(("iso", "country"), [("368", "Iraq"), ("IQ", ""), ("IRQ", ""), ("", "Iraq"), ("999", "Iraq")])
def test_country_from_numeric_or_alpha_iso_or_the_name(iso: str, country: str) -> None:
    assert acled_fact(acled(iso=iso, country=country))["location"]["country"] == "IQ"


def test_one_actor_under_two_periods_is_named_once() -> None:
    fact = acled_fact(acled(assoc_actor_1="Military Forces of the United States (2021-)", actor2="", assoc_actor_2=""))
    assert fact["actors"] == [{"id": "military-forces-of-the-united-states", "role": "perpetrator"}]
