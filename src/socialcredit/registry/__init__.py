"""The registry: the store-backed services (policies, furnishers, ingest, standings, verify).

Each function takes a :class:`~socialcredit.store.db.Store` (or an open connection) and returns
what happened; none prints. The CLI and, later, the HTTP service are thin layers over them.
"""
