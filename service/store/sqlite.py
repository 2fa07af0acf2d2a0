"""The event store on SQLite: the library's recorders, plus the position of one stored event."""

from __future__ import annotations

from uuid import UUID

import eventsourcing.sqlite as es_sqlite

# PERSISTENCE_MODULE names this module; the library takes its one factory class.
PERSISTENCE_MODULE = __name__


class Recorder(es_sqlite.SQLiteApplicationRecorder):
    def position_of(self, originator_id: UUID, version: int) -> int:
        """The notification id (the table's rowid) of one event of an aggregate."""
        with self.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT rowid AS position FROM {self.events_table_name} "  # noqa: S608 (fixed name)
                "WHERE originator_id=? AND originator_version=?",
                (originator_id.hex, version),
            )
            row = cursor.fetchone()
        assert row is not None, f"no event {version} of {originator_id}"
        return int(row["position"])


class Factory(es_sqlite.SQLiteFactory):
    application_recorder_class = Recorder
