"""Which failures are retryable: table-driven over real client exceptions."""

from __future__ import annotations

import asyncpg
import elastic_transport
import pytest
from aiokafka import errors as kafka_errors
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError

from sinks.errors import Failure, SinkError, classify, classify_status, describe, hint

PG = asyncpg.exceptions


def es_error(status: int) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.01, NodeConfig("http", "h", 9200))
    return ApiError(f"HTTP {status}", meta=meta, body={})


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        # network and servers away
        (ConnectionRefusedError(111, "Connection refused"), Failure.TRANSIENT),
        (ConnectionResetError(), Failure.TRANSIENT),
        (TimeoutError(), Failure.TRANSIENT),
        (OSError("Network is unreachable"), Failure.TRANSIENT),
        # PostgreSQL
        (PG.CannotConnectNowError("the database system is starting up"), Failure.TRANSIENT),
        (PG.AdminShutdownError("terminating connection"), Failure.TRANSIENT),
        (PG.ConnectionDoesNotExistError("connection was closed"), Failure.TRANSIENT),
        (PG.QueryCanceledError("canceling statement due to statement timeout"), Failure.TRANSIENT),
        (PG.TooManyConnectionsError("too many clients"), Failure.TRANSIENT),
        (PG.DeadlockDetectedError("deadlock"), Failure.TRANSIENT),
        (PG.SerializationError("could not serialize"), Failure.TRANSIENT),
        (asyncpg.InterfaceError("connection is closed"), Failure.TRANSIENT),
        (PG.UndefinedTableError('relation "server_metrics" does not exist'), Failure.MISCONFIGURED),
        (PG.InsufficientPrivilegeError("permission denied"), Failure.MISCONFIGURED),
        (PG.InvalidPasswordError("password authentication failed"), Failure.MISCONFIGURED),
        (PG.InvalidCatalogNameError('database "x" does not exist'), Failure.MISCONFIGURED),
        (PG.NumericValueOutOfRangeError("out of range"), Failure.BAD_DATA),
        (PG.CharacterNotInRepertoireError("invalid byte sequence"), Failure.BAD_DATA),
        (PG.InvalidTextRepresentationError("invalid input syntax"), Failure.BAD_DATA),
        (PG.NotNullViolationError("null value"), Failure.BAD_DATA),
        (PG.CheckViolationError("violates check constraint"), Failure.BAD_DATA),
        # Elasticsearch
        (elastic_transport.ConnectionError("refused"), Failure.TRANSIENT),
        (elastic_transport.ConnectionTimeout("timed out"), Failure.TRANSIENT),
        (es_error(429), Failure.TRANSIENT),
        (es_error(500), Failure.TRANSIENT),
        (es_error(503), Failure.TRANSIENT),
        (es_error(401), Failure.MISCONFIGURED),
        (es_error(403), Failure.MISCONFIGURED),
        (es_error(400), Failure.BAD_DATA),
        (es_error(413), Failure.BAD_DATA),
        # Kafka (dead letters, commits)
        (kafka_errors.KafkaConnectionError("broker away"), Failure.TRANSIENT),
        (kafka_errors.KafkaTimeoutError(), Failure.TRANSIENT),
        (kafka_errors.RequestTimedOutError(), Failure.TRANSIENT),
        (kafka_errors.MessageSizeTooLargeError(), Failure.BAD_DATA),
        (kafka_errors.TopicAuthorizationFailedError(), Failure.MISCONFIGURED),
        # ours, and unknown errors (never dropped: retried)
        (SinkError(Failure.BAD_DATA, "refused"), Failure.BAD_DATA),
        (RuntimeError("surprise"), Failure.TRANSIENT),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v.value,
)
def test_classify(exc: BaseException, failure: Failure) -> None:
    assert classify(exc) is failure
    assert failure.retryable is (failure is not Failure.BAD_DATA)


@pytest.mark.parametrize(
    ("status", "failure"),
    [
        (200, Failure.BAD_DATA),  # never asked for a success, but not retryable either
        (400, Failure.BAD_DATA),
        (404, Failure.MISCONFIGURED),
        (408, Failure.TRANSIENT),
        (409, Failure.TRANSIENT),
        (429, Failure.TRANSIENT),
        (502, Failure.TRANSIENT),
        (504, Failure.TRANSIENT),
    ],
)
def test_classify_status(status: int, failure: Failure) -> None:
    assert classify_status(status) is failure


def test_sink_error_says_whether_retryable() -> None:
    assert SinkError(Failure.TRANSIENT, "x").retryable
    assert SinkError(Failure.MISCONFIGURED, "x").retryable
    assert not SinkError(Failure.BAD_DATA, "x").retryable


def test_describe_and_hint() -> None:
    exc = PG.UndefinedTableError('relation "error_logs" does not exist\nmore')
    assert describe(exc) == 'UndefinedTableError: relation "error_logs" does not exist'
    assert "lookout migrate" in hint(exc)
    assert describe(TimeoutError()) == "TimeoutError"
    assert "LOOKOUT_ELASTICSEARCH_URL" in hint(es_error(401))
    assert hint(OSError()) == ""
    assert hint(ConnectionRefusedError(111, "refused"), "postgres").startswith(
        "PostgreSQL is unreachable or restarting: check that it runs; if it stopped, its own log"
    )
    assert hint(PG.CannotConnectNowError("the database system is starting up"), "postgres")
    assert "Elasticsearch is unreachable" in hint(
        elastic_transport.ConnectionError("refused"), "elasticsearch"
    )
    assert hint(ConnectionRefusedError()) == ""  # no store named (the notifier's flush)
    assert hint(TimeoutError(), "postgres") == ""
    full = hint(PG.DiskFullError("could not extend file"))
    assert full.startswith("PostgreSQL is out of disk: free disk on its server")
    assert classify(PG.DiskFullError("could not extend file")) is Failure.TRANSIENT
