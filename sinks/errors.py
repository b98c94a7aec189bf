"""Why a sink write failed, and whether retrying can help.

Three kinds, each with one reaction in :class:`sinks.runner.SinkRunner`:

* ``TRANSIENT``: the server is away or busy (connection refused or reset, timeouts, HTTP 429 and
  5xx, Postgres shutting down or out of connections, deadlocks). Retry the same batch with
  exponential backoff; nothing is committed meanwhile.
* ``MISCONFIGURED``: the operator must act (tables missing: run ``lookout migrate``; no
  permission; wrong credentials or database). Also retried, at the backoff cap, with a loud log
  line: skipping would lose data that is fine.
* ``BAD_DATA``: this record can never be stored (value out of range, mapping conflict, HTTP 400).
  The runner narrows a failing batch down to the message and sends it to the dead-letter topic.

Unknown errors count as transient: retrying a bug stalls one sink, dropping data loses it.
"""

from __future__ import annotations

from enum import Enum

import asyncpg
import elastic_transport
from aiokafka import errors as kafka_errors

_PG_TRANSIENT_CLASSES = ("08", "40", "53", "55", "57", "58", "XX")
_PG_BAD_DATA_CLASSES = ("22", "23")
_PG_MISCONFIGURED_CLASSES = ("28", "3D", "3F", "42", "0A")


class Failure(Enum):
    """What kind of failure a write met (see the module docstring)."""

    TRANSIENT = "transient"
    MISCONFIGURED = "misconfigured"
    BAD_DATA = "bad_data"

    @property
    def retryable(self) -> bool:
        """True if the same write should be tried again later."""
        return self is not Failure.BAD_DATA


class SinkError(Exception):
    """A write failed; ``failure`` says whether retrying can help."""

    def __init__(self, failure: Failure, message: str) -> None:
        super().__init__(message)
        self.failure = failure

    @property
    def retryable(self) -> bool:
        """True if the same write should be tried again later."""
        return self.failure.retryable


class TenantMapUnavailable(Exception):
    """The host->tenant map could not be loaded from PostgreSQL for a batch that names hosts it
    has not seen (:mod:`sinks.host_tenants`): transient, whatever sink the batch is for."""


def classify_status(status: int) -> Failure:
    """Failure kind of an HTTP status (a whole request or one bulk item)."""
    if status == 429 or status >= 500 or status in (408, 409):
        # 409 on a bulk ``index`` is a version conflict of concurrent writers: retry wins.
        return Failure.TRANSIENT
    if status in (401, 403, 404):
        return Failure.MISCONFIGURED
    return Failure.BAD_DATA


def classify(exc: BaseException) -> Failure:
    """Failure kind of an exception raised by asyncpg, the Elasticsearch client or aiokafka."""
    if isinstance(exc, SinkError):
        return exc.failure
    if isinstance(exc, asyncpg.PostgresError):
        return _classify_sqlstate(getattr(exc, "sqlstate", None) or "")
    if isinstance(exc, elastic_transport.ApiError):
        return classify_status(exc.meta.status)
    if isinstance(exc, kafka_errors.KafkaError):
        if isinstance(exc, kafka_errors.MessageSizeTooLargeError):
            return Failure.BAD_DATA
        if isinstance(exc, kafka_errors.TopicAuthorizationFailedError):
            return Failure.MISCONFIGURED
        return Failure.TRANSIENT
    # asyncpg.InterfaceError (connection closed), OSError (refused, reset), TimeoutError,
    # elastic_transport.TransportError (ConnectionError, ConnectionTimeout): all transient.
    return Failure.TRANSIENT


def _classify_sqlstate(sqlstate: str) -> Failure:
    cls = sqlstate[:2]
    if cls in _PG_BAD_DATA_CLASSES:
        return Failure.BAD_DATA
    if cls in _PG_MISCONFIGURED_CLASSES:
        return Failure.MISCONFIGURED
    if cls in _PG_TRANSIENT_CLASSES:
        return Failure.TRANSIENT
    return Failure.TRANSIENT


def describe(exc: BaseException) -> str:
    """A one-line description of ``exc`` for logs and dead letters (never a DSN or password)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    name = type(exc).__name__
    out = f"{name}: {text}" if text else name
    cause = exc.__cause__ or next(iter(getattr(exc, "errors", ()) or ()), None)
    if isinstance(cause, BaseException) and cause is not exc:
        out += f" ({type(cause).__name__}: {str(cause).strip()[:200]})"
    return out[:500]


STORES = {"postgres": "PostgreSQL", "elasticsearch": "Elasticsearch"}


def unreachable(exc: BaseException) -> bool:
    """True when ``exc`` says the store cannot be reached (down, restarting, connection cut)."""
    if isinstance(exc, asyncpg.PostgresError):
        return (getattr(exc, "sqlstate", None) or "").startswith(("08", "57P"))
    return isinstance(
        exc, OSError | asyncpg.InterfaceError | elastic_transport.ConnectionError
    ) and not isinstance(exc, TimeoutError)


def hint(exc: BaseException, store: str = "") -> str:
    """What an operator should do about a misconfiguration, a full or an unreachable store (the
    sink's name, e.g. ``postgres``), or ''."""
    sqlstate = getattr(exc, "sqlstate", None) or ""
    if isinstance(exc, TenantMapUnavailable):
        return (
            "PostgreSQL (the host->tenant map) did not answer: this sink holds the batch, which "
            "names hosts it has not seen, until PostgreSQL answers (a line is never stored under "
            "the default tenant only because it did not); check that PostgreSQL runs"
        )
    if store and unreachable(exc):
        name = STORES.get(store, store)
        return (
            f"{name} is unreachable or restarting: check that it runs; if it stopped, its own "
            "log says why (a full disk, for one)"
        )
    if sqlstate in ("53100", "53200"):
        what = "disk" if sqlstate == "53100" else "memory"
        return (
            f"PostgreSQL is out of {what}: free {what} on its server (nothing is committed "
            "meanwhile; the batch is written when there is room again)"
        )
    if sqlstate in ("42P01", "42703"):
        return "a table or column is missing: run `lookout migrate`"
    if sqlstate.startswith("28") or sqlstate == "42501":
        return "check the user and its grants in LOOKOUT_POSTGRES_DSN"
    if sqlstate == "3D000":
        return "the database does not exist: check LOOKOUT_POSTGRES_DSN"
    if isinstance(exc, elastic_transport.ApiError) and exc.meta.status in (401, 403):
        return "Elasticsearch refused the credentials: check LOOKOUT_ELASTICSEARCH_URL"
    return ""
