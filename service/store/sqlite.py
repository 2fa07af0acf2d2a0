"""The event store on SQLite: the library's recorders, plus the position of one stored event."""

from __future__ import annotations

from uuid import UUID

import eventsourcing.sqlite as es_sqlite

from service.store.positions import fetch_position

# PERSISTENCE_MODULE names this module; the library takes its one factory class.
PERSISTENCE_MODULE = __name__


class Recorder(es_sqlite.SQLiteApplicationRecorder):
    def position_of(self, originator_id: UUID, version: int) -> int:
        """The notification id (the table's rowid) of one event of an aggregate."""
        query = f"SELECT rowid AS position FROM {self.events_table_name} "  # noqa: S608 (fixed name)
        query += "WHERE originator_id=? AND originator_version=?"
        return fetch_position(self.datastore, query, (originator_id.hex, version), f"{version} of {originator_id}")


class Factory(es_sqlite.SQLiteFactory):
    application_recorder_class = Recorder
