"""Facts the service must refuse, each with the field its answer must name.

The validator is held to every case without a database (tests/unit/test_fact_validation.py);
a few go through HTTP on each backend, for the 422 answer and that nothing is written.
"""

from __future__ import annotations

import pytest

from tests.support.facts import DROP, valid_fact

BAD_FACTS = [
    pytest.param(valid_fact(type="EarthquakeOccurred"), ("type",), id="unknown-type"),
    pytest.param(valid_fact(type=DROP), ("type",), id="missing-type"),
    pytest.param(
        valid_fact("StrikeOccurred", actors=[{"id": "qasem-soleimani", "role": "target"}]),
        ("actors",),
        id="strike-without-perpetrator",
    ),
    pytest.param(valid_fact("MissionSuspended", mission=DROP), ("mission",), id="suspended-without-mission"),
    pytest.param(valid_fact("MissionResumed", mission=DROP), ("mission",), id="resumed-without-mission"),
    pytest.param(valid_fact("PersonnelDeployed", personnel=DROP), ("personnel",), id="deployed-without-personnel"),
    pytest.param(valid_fact("PersonnelDeployed", location=DROP), ("location",), id="deployed-without-location"),
    pytest.param(
        valid_fact("PersonnelRepositioned", **{"from": DROP, "to": DROP}),
        ("from", "to"),
        id="repositioned-without-from-or-to",
    ),
    pytest.param(valid_fact("StatementIssued", text=DROP), ("text",), id="statement-without-text"),
    pytest.param(
        valid_fact("StatementIssued", actors=[{"id": "us", "role": "on_behalf_of"}]),
        ("actors",),
        id="statement-without-speaker",
    ),
    pytest.param(
        valid_fact(
            "StatementIssued",
            actors=[{"id": "mark-esper", "role": "speaker"}, {"id": "us", "role": "perpetrator"}],
        ),
        ("actors",),
        id="role-the-type-does-not-list",
    ),
    pytest.param(
        valid_fact(
            "StatementIssued",
            actors=[{"id": "mark-esper", "role": "speaker"}, {"id": "mark-esper", "role": "speaker"}],
        ),
        ("actors",),
        id="duplicate-actor-role-pair",
    ),
    pytest.param(valid_fact(actors=[]), ("actors",), id="no-actors"),
    pytest.param(valid_fact(actors=[{"id": "NATO", "role": "speaker"}]), ("actors",), id="actor-slug-uppercase"),
    pytest.param(valid_fact(actors=[{"id": "mark esper", "role": "speaker"}]), ("actors",), id="actor-slug-with-space"),
    pytest.param(valid_fact(occurred_at="2020-13-45"), ("occurred_at",), id="malformed-date"),
    pytest.param(valid_fact(occurred_at="7 January 2020"), ("occurred_at",), id="not-iso-date"),
    pytest.param(valid_fact(occurred_at="2020-01-07T15:00:00"), ("occurred_at",), id="date-time-without-offset"),
    pytest.param(valid_fact(occurred_at=DROP), ("occurred_at",), id="missing-occurred-at"),
    pytest.param(valid_fact(reported_at="2020-01-07T15:00:00"), ("reported_at",), id="reported-at-without-offset"),
    pytest.param(
        valid_fact(occurred_at="2020-01-07T12:00:00Z", occurred_until="2020-01-07T11:59:59Z"),
        ("occurred_until",),
        id="occurred-until-before-occurred-at",
    ),
    pytest.param(valid_fact("PersonnelDeployed", personnel=-1), ("personnel",), id="negative-personnel"),
    pytest.param(valid_fact("StrikeOccurred", fatalities=-3), ("fatalities",), id="negative-fatalities"),
    pytest.param(valid_fact("PersonnelDeployed", personnel="5"), ("personnel",), id="personnel-as-string"),
    pytest.param(valid_fact("PersonnelDeployed", personnel=True), ("personnel",), id="personnel-as-bool"),
    pytest.param(valid_fact("PersonnelDeployed", personnel=5.5), ("personnel",), id="personnel-as-float"),
    pytest.param(valid_fact("StrikeOccurred", fatalities="ten"), ("fatalities",), id="fatalities-as-string"),
    pytest.param(valid_fact("StrikeOccurred", means="laser"), ("means",), id="unknown-means"),
    pytest.param(valid_fact("StatementIssued", channel="carrier-pigeon"), ("channel",), id="unknown-channel"),
    pytest.param(valid_fact(precision="decade"), ("precision",), id="unknown-precision"),
    pytest.param(valid_fact(confidence="certain"), ("confidence",), id="unknown-confidence"),
    pytest.param(
        valid_fact("PersonnelDeployed", location={"name": "Nowhere", "country": "XX"}),
        ("location.country",),
        id="country-xx",
    ),
    pytest.param(
        valid_fact("PersonnelDeployed", location={"name": "Iraq", "country": "Iraq"}),
        ("location.country",),
        id="country-name-not-code",
    ),
    pytest.param(
        valid_fact("PersonnelDeployed", location={"name": "Iraq", "country": "IQ", "lat": 91, "lon": 44}),
        ("location.lat",),
        id="latitude-91",
    ),
    pytest.param(
        valid_fact("PersonnelDeployed", location={"name": "Iraq", "country": "IQ", "lat": 33, "lon": 181}),
        ("location.lon",),
        id="longitude-181",
    ),
    pytest.param(
        valid_fact("PersonnelRepositioned", to={"name": "Kuwait", "country": "KWT"}),
        ("to.country",),
        id="to-country-alpha-3",
    ),
    pytest.param(valid_fact(sources=[{"url": "ftp://example.org/a"}]), ("sources.0.url",), id="source-ftp-url"),
    pytest.param(valid_fact(sources=[{"url": "javascript:alert(1)"}]), ("sources.0.url",), id="source-javascript-url"),
    pytest.param(valid_fact(sources=[{"url": "example.org/a"}]), ("sources.0.url",), id="source-relative-url"),
    pytest.param(
        valid_fact(sources=[{"url": "https://example.org/a", "published_at": "yesterday"}]),
        ("sources.0.published_at",),
        id="source-published-at-not-a-date",
    ),
    pytest.param(valid_fact(colour="red"), ("colour",), id="unknown-extra-field"),
    pytest.param(valid_fact(event_id="not-a-uuid"), ("event_id",), id="event-id-not-uuid"),
    pytest.param(valid_fact(refers_to=["nope"]), ("refers_to",), id="refers-to-not-uuid"),
    pytest.param(valid_fact(summary=""), ("summary",), id="summary-empty"),
    pytest.param(valid_fact(summary="   \t "), ("summary",), id="summary-only-spaces"),
    pytest.param(valid_fact(summary=DROP), ("summary",), id="summary-missing"),
    pytest.param(valid_fact(summary="x" * 501), ("summary",), id="summary-too-long"),
    pytest.param([valid_fact()], ("body",), id="array-instead-of-object"),
    pytest.param("a fact", ("body",), id="string-instead-of-object"),
]
