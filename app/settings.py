"""Settings: read once from ``LOOKOUT_*`` variables into one object that is passed down.

(Over 450 lines on purpose: one flat declaration of every setting with its bounds and help, so a
reader finds each ``LOOKOUT_*`` variable in one place; the logic is the short part at the end.)

Nothing else in Lookout reads the environment. ``load_settings(environ)`` takes the environment
as an argument so tests pass a dict. A bad value fails at start with a :class:`ConfigError`
whose message names the variable and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from app.config_errors import closest, describe, value_message

PREFIX = "LOOKOUT_"
# A browser origin: scheme://host[:port], host a name, an IPv4 address or a bracketed IPv6 one.
_ORIGIN = re.compile(
    r"https?://(\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(:\d{1,5})?", re.IGNORECASE
)

DEFAULT_COUNTER_FIELDS = (
    "net.bytes_sent",
    "net.bytes_recv",
    "net.packets_sent",
    "net.packets_recv",
    "net.err_in",
    "net.err_out",
    "net.drop_in",
    "net.drop_out",
    "diskio.reads",
    "diskio.writes",
    "diskio.read_bytes",
    "diskio.write_bytes",
    "diskio.read_time",
    "diskio.write_time",
    "diskio.io_time",
    "nginx.requests",
    "nginx.accepts",
    "nginx.handled",
)


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the variable and the fix."""


class Settings(BaseSettings):
    """Every knob of Lookout. Field ``x`` is set by the variable ``LOOKOUT_X``."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid", frozen=True)

    # --- services (unset: the embedded local stack) ---
    broker_url: str | None = Field(
        None,
        description="Kafka bootstrap servers `kafka://host:port[,...]`. Unset: embedded Tansu.",
    )
    postgres_dsn: SecretStr | None = Field(
        None,
        description="PostgreSQL DSN `postgresql://user:pass@host:port/db`. Unset: embedded.",
    )
    elasticsearch_url: str | None = Field(
        None, description="Elasticsearch URL, `http://host:9200`. Unset: embedded osmem-server."
    )
    stack_dir: Path = Field(
        Path(".lookout"), description="Folder for the embedded stack's data, logs and state file."
    )
    broker_storage: Literal["memory", "disk"] = Field(
        "memory",
        description="Storage of the embedded broker: `memory` (lost when it stops) or `disk` "
        "(kept in LOOKOUT_STACK_DIR across restarts; `lookout run` defaults to `disk`).",
    )

    # --- Kafka / Faust ---
    app_id: str = Field("lookout", description="Faust app id: consumer group and changelog prefix.")
    topic_prefix: str = Field("", description="Prefix for every topic name (e.g. `prod.`).")
    partitions: int = Field(
        8, ge=1, le=1024, description="Partitions of every topic Lookout creates."
    )
    replication_factor: int = Field(
        1, ge=1, le=7, description="Replication factor of created topics."
    )
    session_timeout: float = Field(
        10.0, gt=1, description="Consumer session timeout, seconds (group joins take about half)."
    )
    data_dir: Path = Field(Path("lookout-data"), description="Faust worker data dir.")
    batch_max: int = Field(
        20_000,
        ge=1,
        le=200_000,
        description="Max Kafka messages per batch (LOOKOUT_BATCH_WITHIN bounds the wait).",
    )
    batch_within: float = Field(
        0.25, gt=0, le=10, description="Max seconds to wait to fill a batch."
    )
    input_align_wait: float = Field(
        2.0,
        ge=0,
        le=60,
        description="Max seconds records of a partition are held back while another input "
        "partition of the same number (the same hosts) has records not yet fetched that may be "
        "older; keeps a host's topics in event-time step through a backlog. 0 turns it off.",
    )
    input_stall_after: float = Field(
        30.0,
        ge=1,
        le=3600,
        description="Seconds an owned input partition may hold unread records without any "
        "progress before the worker logs it and re-seeks it (restarts its fetch).",
    )

    # --- web ---
    web_host: str = Field("127.0.0.1", description="Address the worker's web server binds.")
    web_port: int = Field(6066, ge=1, le=65535, description="Port of the worker's web server.")
    api_token: SecretStr | None = Field(
        None,
        description="Server-admin bearer token for automation (every endpoint, every tenant). "
        "Unset: only signed-in users may write.",
    )
    ingest_keys: SecretStr | None = Field(
        None,
        description="Comma list of API keys for POST /api/ingest/*. Unset: ingest is refused.",
    )
    ingest_max_bytes: int = Field(
        5_000_000, ge=1024, description="Largest accepted ingest request body, bytes (else 413)."
    )
    ingest_rate: float = Field(
        20.0, gt=0, description="Ingest requests per second allowed per API key (else 429)."
    )
    ingest_burst: int = Field(40, ge=1, description="Ingest requests a key may burst above rate.")
    ingest_produce_timeout: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Seconds an ingest request waits for the broker's acknowledgement (else 503).",
    )
    ingest_retry_after: int = Field(
        5, ge=1, le=3600, description="Retry-After seconds of a 503 while the broker is away."
    )
    cors_origins: tuple[str, ...] = Field(
        (),
        description="Comma list of origins (`https://host[:port]`) allowed to call the API from "
        "a browser (CORS). Unset: no CORS headers.",
    )

    logs_cursor_secret: SecretStr | None = Field(
        None,
        description="Key that signs /api/logs/search cursors. Unset: a random key per process "
        "(set it when several workers answer the same clients, so a cursor works on any).",
    )
    logs_tail_per_caller: int = Field(
        3, ge=1, le=100, description="Live tails (/api/logs/tail) open at once per caller (429)."
    )
    logs_tail_max_seconds: float = Field(
        300.0,
        gt=0,
        le=86_400,
        description="Seconds a live tail stays open; the browser then resumes it (Last-Event-ID).",
    )
    logs_tail_heartbeat: float = Field(
        15.0, gt=0, le=300, description="Seconds between keep-alive comments of a live tail."
    )
    # --- users, tenants, tokens (docs/AUTH.md) ---
    jwt_secret: SecretStr | None = Field(
        None,
        description="HS256 key that signs access tokens (32+ bytes). Set it (or the RS256 key "
        "pair) to turn sign-in on: then every read needs a token. Unset: reads are open.",
    )
    jwt_private_key: Path | None = Field(
        None, description="RS256 instead of HS256: PEM private key that signs access tokens."
    )
    jwt_public_keys: tuple[Path, ...] = Field(
        (),
        description="RS256: comma list of PEM public keys that verify tokens (the signing key's "
        "own public key is always accepted); keep an old key here while rotating.",
    )
    jwt_kid: str = Field("k1", description="Key id (`kid`) of the signing key.")
    jwt_old_secrets: SecretStr | None = Field(
        None,
        description="HS256 key rotation: comma list of `kid:secret` that still verify tokens.",
    )
    jwt_issuer: str = Field("lookout", description="`iss` of access tokens.")
    jwt_audience: str = Field("lookout-api", description="`aud` of access tokens.")
    access_token_ttl: int = Field(
        300, ge=30, le=86_400, description="Access token lifetime, seconds."
    )
    refresh_token_ttl: int = Field(
        86_400 * 7, ge=300, description="Refresh token lifetime, seconds (rotated on use)."
    )
    default_tenant: str = Field(
        "default",
        min_length=1,
        max_length=64,
        description="Tenant of hosts no key, assignment or `tenant` tag names; the tenant of "
        "LOOKOUT_INGEST_KEYS.",
    )
    tenant_refresh: float = Field(
        30.0, gt=0, le=3600, description="Seconds between reloads of the host->tenant map."
    )
    login_max_failures: int = Field(
        10, ge=1, description="Failed sign-ins per user or address per window before 429."
    )
    login_window: int = Field(
        60, ge=1, description="Window of LOOKOUT_LOGIN_MAX_FAILURES, seconds."
    )

    # --- windows ---
    tumbling_size: int = Field(60, ge=1, description="Tumbling window size, seconds.")
    hopping_size: int = Field(300, ge=1, description="Hopping window size, seconds.")
    hopping_step: int = Field(60, ge=1, description="Hopping window step, seconds.")
    grace: int = Field(30, ge=0, description="Seconds a window waits for out-of-order records.")
    idle_timeout: int = Field(
        30, ge=1, description="Wall seconds without records before a quiet host's time moves on."
    )
    retain_windows: int = Field(
        5, ge=1, le=100, description="Closed windows kept per series and kind for the HTTP API."
    )
    timestamp_unit: Literal["auto", "s", "ms", "us", "ns"] = Field(
        "auto",
        description="Unit of Telegraf JSON `timestamp`; `auto` infers it from the magnitude.",
    )
    max_series_per_host: int = Field(
        2000, ge=1, description="Series kept per host; the overflow is counted and dropped."
    )
    patterns: bool = Field(
        True, description="Mine nginx error and app log messages into patterns (pattern_id)."
    )
    pattern_max_clusters: int = Field(
        1000, ge=1, description="Patterns kept per service and partition; the least used go."
    )
    pattern_max_line: int = Field(
        4096, ge=64, description="Characters of a message mined; longer ones are counted."
    )
    counter_fields: tuple[str, ...] = Field(
        DEFAULT_COUNTER_FIELDS,
        description="`measurement.field` names that are counters (become per-second rates).",
    )

    # --- alerting ---
    rules: Path = Field(
        Path("rules"), description="Alert rules: a YAML file or a folder of *.yaml files."
    )

    # --- notifications ---
    notify_file: Path | None = Field(
        None,
        description="Notifications: receivers, routes and inhibit rules in YAML (example: "
        "`notify/notify.yaml`). Unset: notifications are off.",
    )
    notify: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Run the notifier and the sender in the worker: `auto` (when "
        "LOOKOUT_NOTIFY_FILE is set), `on` (LOOKOUT_NOTIFY_FILE required) or `off`.",
    )

    # --- misc ---
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level."
    )

    # --- sinks ---
    sinks: str = Field(
        "all",
        description="Sinks to run: `all`, `none` or a comma list of `postgres`, `elasticsearch`.",
    )
    sink_batch_max: int = Field(
        2000, ge=1, le=100_000, description="Max Kafka messages a sink writes in one batch."
    )
    sink_batch_bytes: int = Field(
        4_194_304,
        ge=65_536,
        le=268_435_456,
        description="Max bytes of Kafka messages per sink batch; also bounds the prefetch.",
    )
    sink_linger: float = Field(
        0.5, gt=0, le=60, description="Max seconds a sink waits to fill a batch."
    )
    sink_retry_max: float = Field(
        10.0, ge=0.1, le=600, description="Cap of a sink's retry backoff, seconds."
    )
    sink_pattern_wait: float = Field(
        30.0,
        ge=0,
        le=3600,
        description="Seconds a sink holds a log line for the pattern id the worker mined it "
        "into; then it is stored without one (counted). 0: store lines without pattern ids.",
    )
    sink_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a sink write may take (Postgres statement_timeout, ES request).",
    )
    retention_days: int = Field(
        14, ge=1, le=36_500, description="Days of raw rows kept in Postgres (pruned hourly)."
    )
    es_local_max_days: int = Field(
        3,
        ge=1,
        le=365,
        description="Embedded osmem only: daily log indices kept (it holds every doc in memory).",
    )
    es_local_max_docs: int = Field(
        20_000,
        ge=100,
        le=10_000_000,
        description="Embedded osmem only: newest log docs kept (memory grows with every doc).",
    )

    @field_validator("sinks")
    @classmethod
    def _check_sinks(cls, value: str) -> str:
        names = [part.strip().lower() for part in value.split(",") if part.strip()]
        if names in (["all"], ["none"]):
            return names[0]
        unknown = [n for n in names if n not in ("postgres", "elasticsearch")]
        if unknown or not names:
            raise ValueError(
                "expected all, none or a comma list of postgres, elasticsearch"
                + (f" (unknown: {', '.join(unknown)})" if unknown else "")
            )
        return ",".join(dict.fromkeys(names))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only explicit values: :func:`load_settings` is the one reader of the environment."""
        return (init_settings,)

    @field_validator("counter_fields", "jwt_public_keys", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _check_origins(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else list(value)
        out = []
        for item in (str(i).strip() for i in items):
            if not item:
                continue
            if not _ORIGIN.fullmatch(item):
                raise ValueError(
                    f"{item!r} is not an origin: give scheme://host[:port] with no path or "
                    "trailing slash, e.g. https://ops.example.com (no '*': list each origin)"
                )
            out.append(item.lower())
        return tuple(dict.fromkeys(out))

    @field_validator("broker_url")
    @classmethod
    def _check_broker(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for part in value.split(","):
            host = part.strip().removeprefix("kafka://")
            if ":" not in host:
                raise ValueError("expected kafka://host:port[,host:port]")
        return value

    @field_validator("elasticsearch_url")
    @classmethod
    def _check_es(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected http://host:port or https://host:port")
        return value.rstrip("/")

    @field_validator("notify_file")
    @classmethod
    def _check_notify_file(cls, value: Path | None) -> Path | None:
        if value is None or str(value) == "":
            return None
        if not value.is_file():
            raise ValueError(
                "no such file: point it at a notify YAML (see notify/notify.yaml), or unset it "
                "to turn notifications off"
            )
        return value

    @model_validator(mode="after")
    def _check_notify(self) -> Settings:
        if self.notify == "on" and self.notify_file is None:
            raise ValueError("notify: 'on' needs LOOKOUT_NOTIFY_FILE (the notify YAML); set it")
        return self

    @property
    def notify_enabled(self) -> bool:
        """True if the worker runs the notifier and the sender."""
        return self.notify != "off" and self.notify_file is not None

    @model_validator(mode="after")
    def _check_jwt(self) -> Settings:
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if secret and len(secret.encode()) < 32:
            raise ValueError("jwt_secret: too short; give 32 bytes or more (openssl rand -hex 32)")
        if secret and self.jwt_private_key is not None:
            raise ValueError("jwt_secret: set either it (HS256) or LOOKOUT_JWT_PRIVATE_KEY (RS256)")
        for key in (self.jwt_private_key, *self.jwt_public_keys):
            if key is not None and not key.is_file():
                raise ValueError(f"jwt_private_key: no such file {key}; give a PEM key file")
        return self

    @property
    def sign_in_enabled(self) -> bool:
        """True when access tokens can be signed: users sign in and reads need a token."""
        return self.jwt_secret is not None or self.jwt_private_key is not None

    @model_validator(mode="after")
    def _check_windows(self) -> Settings:
        if self.hopping_size % self.hopping_step:
            raise ValueError("hopping_size: must be a multiple of LOOKOUT_HOPPING_STEP")
        return self

    # --- derived names ---
    def topic(self, name: str) -> str:
        """Return the full name of topic ``name`` (with the configured prefix)."""
        return f"{self.topic_prefix}{name}"

    @property
    def pane_size(self) -> int:
        """Pane (slice) size: the gcd of the tumbling size and the hopping step."""
        from math import gcd

        return gcd(self.tumbling_size, self.hopping_step)


def _env_name(field: str) -> str:
    return PREFIX + field.upper()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read ``LOOKOUT_*`` variables from ``environ`` (default: the process environment)."""
    env = os.environ if environ is None else environ
    fields = Settings.model_fields
    values: dict[str, str] = {}
    for key, raw in env.items():
        if not key.upper().startswith(PREFIX):
            continue
        name = key[len(PREFIX) :].lower()
        if name not in fields:
            close = closest(name, fields)
            hint = f"; did you mean {_env_name(close)}?" if close else ""
            raise ConfigError(
                f"{key}: unknown setting{hint} (see the README's configuration table)"
            )
        values[name] = raw
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = err.get("loc") or ()
        if loc:
            lines.append(f"{_env_name(str(loc[0]))}: {describe(err)}")
        else:
            msg = value_message(err)
            field, _, rest = msg.partition(": ")
            lines.append(f"{_env_name(field)}: {rest or msg}" if rest else msg)
    return "bad configuration:\n  " + "\n  ".join(lines)


def settings_table() -> str:
    """Markdown table of every setting, its default and meaning (for the README)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        default = info.default
        if isinstance(default, tuple):
            default = ",".join(default) if len(default) < 4 else "(see below)"
        shown = "unset" if default is None or default == "" else f"`{default}`"
        rows.append(f"| `{_env_name(name)}` | {shown} | {info.description or ''} |")
    return "\n".join(rows)
