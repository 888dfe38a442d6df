"""Stored OpenAI Responses: what ``previous_response_id`` continues, what ``item_reference``
items name, and what ``GET``/``DELETE /v1/responses/{id}`` read, kept per owner (a named key,
or one owner for the single token) for a retention period (docs/compatibility.md).

    settings.py        the ``responses`` section of routes.yaml: where, how long, how large
    record.py          one stored response: the Response as answered and its own input items
    store.py           what a backend does: save, load a conversation, find items, delete
    sql.py             the SQL both databases run
    sqlite_store.py    the default: a SQLite file beside the usage ledger
    postgres_store.py  PostgreSQL, shared by every gateway that names it
    redis_store.py     Redis, shared likewise; its keys expire by themselves
    service.py         the app's service: opened at start and reload, owners, size cap, saves
"""
