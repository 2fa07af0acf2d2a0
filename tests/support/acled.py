"""Rows as ACLED exports them, for the importer's tests."""

from __future__ import annotations

ACLED_HEADER = (
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
)


def acled(**cells: str) -> dict[str, str]:
    """A row as ACLED exports it: the drone strike at Baghdad airport, 3 January 2020."""
    row = dict.fromkeys(ACLED_HEADER, "")
    row.update(
        event_id_cnty="IRQ46580",
        event_date="03 January 2020",
        year="2020",
        time_precision="1",
        disorder_type="Political violence",
        event_type="Explosions/Remote violence",
        sub_event_type="Air/drone strike",
        actor1="Military Forces of the United States (2017-2021)",
        actor2="Military Forces of Iran (1989-)",
        assoc_actor_2="Kataib Hezbollah; Popular Mobilization Forces",
        iso="368",
        country="Iraq",
        admin1="Baghdad",
        location="Baghdad International Airport",
        latitude="33.2625",
        longitude="44.2346",
        source="Reuters; Al Jazeera",
        notes="On 3 January 2020, a US drone strike killed IRGC Quds Force commander Qasem Soleimani.",
        fatalities="10",
        timestamp="1579000000",
    )
    row.update(cells)
    return row
