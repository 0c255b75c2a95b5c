"""Django's PostgreSQL backend, with the statements of a request prepared on the server.

Every turn runs the same few statements; prepared (psycopg's ``prepare_threshold``, which
needs server-side binding), PostgreSQL parses and plans each once per connection.
Server-side binding sends the parameters apart from the statement, and the protocol allows
at most 65,535 of them in one statement, where Django, binding on the client by default,
has no limit: deleting a user collects their messages and sets what pointed at them to
null in one statement naming every one. A statement with more parameters than that is
bound on the client, as Django would bind it.

``LUXX_DB_PREPARED_STATEMENTS=false`` turns both off (behind a transaction-pooling
PgBouncer older than 1.21, which cannot keep prepared statements).
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db.backends.postgresql import base

MAX_PARAMETERS = 65_535


class ServerBindingCursor(base.ServerBindingCursor):
    # At run time Django's class is a psycopg Cursor; its stubs do not say so.
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if params is not None and len(params) > MAX_PARAMETERS:
            query, params = psycopg.ClientCursor(self.connection).mogrify(query, params), None  # type: ignore[attr-defined]
        return super().execute(query, params, **kwargs)  # type: ignore[misc]


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        if params.get("cursor_factory") is base.ServerBindingCursor:
            params["cursor_factory"] = ServerBindingCursor
        return params
