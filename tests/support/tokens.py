"""The API tokens of the test app, one per scope, and the headers that send them."""

from __future__ import annotations

TOKENS = "admin-token:admin,write-token:write,read-token:read"
READ = {"Authorization": "Bearer read-token"}
WRITE = {"Authorization": "Bearer write-token"}
ADMIN = {"Authorization": "Bearer admin-token"}
