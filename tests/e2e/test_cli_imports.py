"""``import FILE`` through the command line, on both backends.

ACLED's CSV and ours: the per-row report, round trips, re-import.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from bench.common.processes import run_service, service_env
from service.bootstrap import Container, bootstrap
from service.demo import load_demo
from service.domain.actors import ActorProfileIn, profile_record
from service.domain.aggregates import actor_aggregate_id
from service.domain.facts import validate_fact
from service.formats.acled import acled_event_id
from service.formats.csv_rows import ACTOR_COLUMNS, FACT_COLUMNS, actor_rows, fact_row
from service.readmodels.queries import Axes, FactFilter, list_facts
from service.settings import Settings
from tests.support.acled import ACLED_HEADER, acled

STORE_FIELDS = ("recorded_at", "position", "revision", "status")


# --- end to end through the CLI, on both backends -----------------------------------


@contextmanager
def opened(database_url: str, *, migrate: bool = False) -> Iterator[Container]:
    container = bootstrap(Settings(database_url=database_url, _env_file=None), apply_migrations=migrate)
    try:
        yield container
    finally:
        container.close()


def stored_facts(database_url: str) -> dict[str, dict[str, Any]]:
    with opened(database_url) as container, container.engine.connect() as conn:
        return {f["event_id"]: f for f in list_facts(conn, Axes(), FactFilter(), None, 1000).items}


def store_head(database_url: str) -> int:
    with opened(database_url) as container:
        return container.store.max_position()


def profile_name(database_url: str, actor_id: str) -> str:
    with opened(database_url) as container:
        return str(container.store.repository.get(actor_aggregate_id(actor_id)).profile["name"])


def reported_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("line ")]


def reported_places(output: str) -> list[str]:
    """The "line N: field" of each reported row."""
    return [": ".join(line.split(": ")[:2]) for line in reported_lines(output)]


def write_acled(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ACLED_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def acled_file(path: Path) -> Path:
    return write_acled(
        path,
        [
            acled(),  # line 2
            acled(
                event_id_cnty="IRQ46581",
                event_type="Battles",
                sub_event_type="Armed clash",  # line 3
                actor1="Islamic State (Iraq)",
                actor2="Military Forces of Iraq (2018-2022)",
                assoc_actor_2="",
            ),
            acled(event_id_cnty="IRQ46582", event_date="31 February 2020"),  # line 4
            acled(event_id_cnty="IRQ46583", event_type="Protests", sub_event_type="Peaceful protest"),  # line 5
            acled(event_id_cnty="IRQ46584", fatalities="-1"),  # line 6
            acled(event_id_cnty=""),  # line 7
            acled(
                event_id_cnty="IRQ46585",
                event_type="Strategic developments",
                sub_event_type="Agreement",  # 8-10
                notes="Iraq's parliament voted\nto ask foreign troops\nto leave.",
                actor2="Government of Iraq (2018-2022)",
            ),
            acled(event_id_cnty="IRQ46586", latitude="91.5"),  # line 11
        ],
    )


EXPECTED_REPORT = [
    "line 4: event_date",
    "line 5: event_type",
    "line 6: fatalities",
    "line 7: event_id_cnty",
    "line 11: latitude",
]


def test_acled_import_loads_good_rows_reports_bad_ones_by_line_and_is_idempotent(
    database_url: str, tmp_path: Path
) -> None:
    path = acled_file(tmp_path / "acled-export.csv")
    env = service_env(database_url)

    code, output = run_service(["import", "--dry-run", str(path)], env, tmp_path / "dry.log")
    assert code == 1, output
    assert "8 read, 3 valid, 5 error(s); nothing recorded." in output
    assert store_head(database_url) == 0

    errors_csv = tmp_path / "errors.csv"
    code, output = run_service(["import", str(path), "--errors-csv", str(errors_csv)], env, tmp_path / "1.log")
    assert code == 1, output
    assert reported_places(output) == EXPECTED_REPORT
    assert "no counterpart in this service: Protests / Peaceful protest" in output
    assert "8 read, 3 recorded, 0 already stored, 5 error(s)." in output
    with errors_csv.open(newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["line", "field", "reason"]
    assert [row[:2] for row in written[1:]] == [
        ["4", "event_date"],
        ["5", "event_type"],
        ["6", "fatalities"],
        ["7", "event_id_cnty"],
        ["11", "latitude"],
    ]

    facts = stored_facts(database_url)
    strike = facts[str(acled_event_id("IRQ46580"))]
    assert (strike["type"], strike["means"], strike["fatalities"]) == ("StrikeOccurred", "drone", 10)
    assert {"id": "military-forces-of-the-united-states", "role": "perpetrator"} in strike["actors"]
    assert facts[str(acled_event_id("IRQ46581"))]["type"] == "StrikeOccurred"
    statement = facts[str(acled_event_id("IRQ46585"))]
    assert statement["type"] == "StatementIssued"
    assert statement["text"] == "Iraq's parliament voted\nto ask foreign troops\nto leave."
    assert profile_name(database_url, "military-forces-of-the-united-states") == "Military Forces of the United States"

    # A user's own edit of a profile the import registered is kept by the next import.
    with opened(database_url) as container:
        container.store.register_actor(profile_record("islamic-state-iraq", ActorProfileIn(name="ISIS in Iraq")))
    head = store_head(database_url)
    code, output = run_service(["import", str(path)], env, tmp_path / "2.log")
    assert "8 read, 0 recorded, 3 already stored, 5 error(s)." in output
    assert "actor profile" not in output
    assert store_head(database_url) == head  # nothing new at all
    assert profile_name(database_url, "islamic-state-iraq") == "ISIS in Iraq"

    # ACLED revised a row since: that row is reported, a new row still loads.
    revised = write_acled(tmp_path / "revised.csv", [acled(fatalities="11"), acled(event_id_cnty="IRQ46590")])
    code, output = run_service(["import", str(revised)], env, tmp_path / "3.log")
    assert code == 1, output
    assert reported_places(output) == ["line 2: event_id"]
    assert "2 read, 1 recorded, 0 already stored, 1 error(s)." in output


def test_a_csv_of_neither_kind_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "facts.csv"
    path.write_text("when,what\n2020-01-03,strike\n")
    code, output = run_service(
        ["import", str(path)], service_env(f"sqlite:///{tmp_path / 'db.sqlite3'}"), tmp_path / "neither.log"
    )
    assert code == 2, output
    assert "event_id_cnty" in output and "type and occurred_at" in output and "when, what" in output


def test_acled_is_told_by_content_and_a_bom_is_read(database_url: str, tmp_path: Path) -> None:
    plain = write_acled(tmp_path / "plain.csv", [acled()])
    path = tmp_path / "download.txt"
    path.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    code, output = run_service(["import", str(path)], service_env(database_url), tmp_path / "bom.log")
    assert code == 0, output
    assert "1 read, 1 recorded" in output


# --- our CSV round trip ---------------------------------------------------------------


def originals(tmp_path: Path) -> list[dict[str, Any]]:
    """The demo facts and one whose summary looks like a formula, as the API shows them."""
    url = f"sqlite:///{tmp_path / 'origin.sqlite3'}"
    with opened(url, migrate=True) as container:
        load_demo(container.store)
        container.store.record_facts(
            [
                validate_fact(
                    {
                        "type": "StatementIssued",
                        "occurred_at": "2020-01-08",
                        "summary": "=1+1 is not a formula",
                        "text": "'=SUM(A1)' is quoted, and so is 'this'",
                        "actors": [{"id": "mark-esper", "role": "speaker"}],
                    }
                )
            ]
        )
        container.read_models.catch_up()
        with container.engine.connect() as conn:
            return list_facts(conn, Axes(), FactFilter(), None, 1000).items


def write_rows(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def body(fact: dict[str, Any]) -> dict[str, Any]:
    """What the fact says; a reported_at the store filled in (with recorded_at) stays open."""
    said = {k: v for k, v in fact.items() if k not in STORE_FIELDS}
    if fact["reported_at"] == fact["recorded_at"]:
        said["reported_at"] = None
    return said


def test_our_csv_round_trips_the_facts_in_both_layouts(database_url: str, tmp_path: Path) -> None:
    facts = originals(tmp_path)
    assert any(f["summary"].startswith("=1+1") for f in facts)
    per_fact = write_rows(tmp_path / "facts.csv", FACT_COLUMNS, [fact_row(f) for f in facts])
    per_actor = write_rows(tmp_path / "actors.csv", ACTOR_COLUMNS, [r for f in facts for r in actor_rows(f)])
    env = service_env(database_url)

    code, output = run_service(["import", str(per_fact)], env, tmp_path / "facts.log")
    assert code == 0, output
    assert f"{len(facts)} read, {len(facts)} recorded, 0 already stored, 0 error(s)." in output
    imported = stored_facts(database_url)
    assert {event_id: body(f) for event_id, f in imported.items()} == {f["event_id"]: body(f) for f in facts}

    # The per-actor layout repeats each fact once per actor: it is the same facts.
    code, output = run_service(["import", str(per_actor)], env, tmp_path / "actors.log")
    assert code == 0, output
    assert f"{len(facts)} read, 0 recorded, {len(facts)} already stored, 0 error(s)." in output


def test_our_csv_reports_bad_cells_by_physical_line_and_column(database_url: str, tmp_path: Path) -> None:
    good = {"type": "StatementIssued", "occurred_at": "2020-01-06", "summary": "s", "actors": "mark-esper:speaker"}
    rows = [
        {**good, "text": "two\nlines"},  # lines 2-3
        {**good, "actors": "mark-esper"},  # line 4
        {**good, "text": "t", "occurred_at": "someday"},  # line 5
        {**good, "text": "t", "location_lat": "x"},  # line 6
    ]
    path = tmp_path / "facts.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FACT_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    code, output = run_service(["import", str(path)], service_env(database_url), tmp_path / "bad.log")
    assert code == 1, output
    assert reported_places(output) == [
        "line 4: actors",
        "line 5: occurred_at",
        "line 6: location_lat",
    ]
    assert "4 read, 1 recorded" in output


# --- files without ids ---------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_facts_without_ids_reimport_as_already_stored(database_url: str, tmp_path: Path, suffix: str) -> None:
    rows = [
        {
            "type": "StatementIssued",
            "occurred_at": "2020-01-06",
            "summary": f"statement {n}",
            "text": "t",
            "actors": [{"id": "mark-esper", "role": "speaker"}],
        }
        for n in (1, 2)
    ]
    path = tmp_path / f"facts{suffix}"
    path.write_text(json.dumps(rows) if suffix == ".json" else "\n".join(json.dumps(r) for r in rows))
    env = service_env(database_url)
    code, output = run_service(["import", str(path)], env, tmp_path / "1.log")
    assert code == 0 and "2 recorded" in output, output
    code, output = run_service(["import", str(path)], env, tmp_path / "2.log")
    assert code == 0 and "0 recorded, 2 already stored" in output, output
    assert len(stored_facts(database_url)) == 2
