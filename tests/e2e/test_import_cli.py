"""``import FILE``: JSON and JSON Lines, bad rows reported by line and field, re-import idempotent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bench.common.processes import run_service, service_env
from service.bootstrap import bootstrap
from service.readmodels.tables import fact_revisions
from service.settings import Settings


def statement(n: int) -> dict:
    return {
        "event_id": f"00000000-0000-4000-8000-{n:012d}",
        "type": "StatementIssued",
        "occurred_at": "2020-01-06",
        "summary": f"statement {n}",
        "text": "text",
        "actors": [{"id": "mark-esper", "role": "speaker"}],
    }


def facts_in_read_models(database_url: str) -> int:
    container = bootstrap(Settings(database_url=database_url, _env_file=None), apply_migrations=False)
    try:
        with container.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(fact_revisions)).scalar_one()
    finally:
        container.close()


@pytest.mark.parametrize("form", ["jsonl", "json-array", "json-events"])
def test_import_loads_good_rows_reports_bad_ones_and_is_idempotent(
    database_url: str, tmp_path: Path, form: str
) -> None:
    rows = [statement(1), {**statement(2), "occurred_at": "2020-01-06T10:00:00"}, statement(3)]
    if form == "jsonl":
        path = tmp_path / "facts.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{not json\n")
    elif form == "json-array":
        path = tmp_path / "facts.json"
        path.write_text(json.dumps(rows))
    else:
        path = tmp_path / "facts.json"
        path.write_text(json.dumps({"events": rows}))
    env = service_env(database_url)

    code, output = run_service(["import", str(path)], env, tmp_path / "import.log")
    assert code == 1, output  # errors were reported
    assert "line 2: occurred_at:" in output
    if form == "jsonl":
        assert "line 4" in output and "not JSON" in output
    assert "2 recorded" in output
    assert facts_in_read_models(database_url) == 2

    code, output = run_service(["import", str(path)], env, tmp_path / "again.log")
    assert "0 recorded, 2 already stored" in output
    assert facts_in_read_models(database_url) == 2


def test_dry_run_records_nothing(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "facts.jsonl"
    path.write_text(json.dumps(statement(1)) + "\n")
    code, output = run_service(["import", "--dry-run", str(path)], service_env(database_url), tmp_path / "dry.log")
    assert code == 0, output
    assert "1 valid" in output and "nothing recorded" in output
    assert facts_in_read_models(database_url) == 0


def test_import_needs_an_existing_file(tmp_path: Path) -> None:
    code, output = run_service(
        ["import", str(tmp_path / "missing.jsonl")],
        service_env(f"sqlite:///{tmp_path / 'db.sqlite3'}"),
        tmp_path / "missing.log",
    )
    assert code == 2 and "does not exist" in output.lower().replace("'", "")
