"""Production configuration that cannot run here (Telegraf, Kafka, Grafana, Docker), checked by
what can: parsed as the real tools parse it, cross-checked against app.topics and app.settings,
and fed through the same parsers the worker uses.

Files: infra/telegraf/telegraf.conf, infra/nginx/nginx.conf, infra/Dockerfile,
docker-compose.yml, grafana/provisioning/**, grafana/dashboards/*.json.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import topics
from app.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
TELEGRAF_CONF = ROOT / "infra" / "telegraf" / "telegraf.conf"
NGINX_CONF = ROOT / "infra" / "nginx" / "nginx.conf"
DOCKERFILE = ROOT / "infra" / "Dockerfile"
COMPOSE_FILE = ROOT / "docker-compose.yml"
GRAFANA_DIR = ROOT / "grafana"
DATASOURCES_FILE = GRAFANA_DIR / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS_FILE = GRAFANA_DIR / "provisioning" / "dashboards" / "dashboards.yaml"

NGINX_LOG_DIR = "/var/log/lookout-nginx"
METRIC_INPUTS = ("cpu", "mem", "disk", "diskio", "net", "system")
LONG_RUNNING = ("kafka", "postgres", "elasticsearch", "grafana", "nginx", "telegraf", "worker")
ONE_SHOT = ("kafka-init", "migrate")

# nginx's predefined "combined" format; ours appends the two timings.
NGINX_COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)


# --- loading ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telegraf_text() -> str:
    return TELEGRAF_CONF.read_text()


@pytest.fixture(scope="module")
def telegraf(telegraf_text: str) -> dict[str, Any]:
    # Telegraf substitutes ${VAR} before parsing; the references sit inside quoted strings, so
    # the file must be valid TOML as it is.
    return tomllib.loads(telegraf_text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def nginx_text() -> str:
    return NGINX_CONF.read_text()


@pytest.fixture(scope="module")
def log_format(nginx_text: str) -> str:
    match = re.search(r"log_format\s+lookout\s+((?:'[^']*'\s*)+);", nginx_text)
    assert match, "nginx.conf must define log_format lookout '...';"
    return "".join(re.findall(r"'([^']*)'", match.group(1)))


def _kafka_outputs(telegraf: dict[str, Any]) -> list[dict[str, Any]]:
    return telegraf["outputs"]["kafka"]


def _tails(telegraf: dict[str, Any], measurement: str) -> list[dict[str, Any]]:
    return [t for t in telegraf["inputs"]["tail"] if t.get("name_override") == measurement]


# --- Telegraf -----------------------------------------------------------------------------------


def test_telegraf_agent_collects_and_flushes_every_10s(telegraf: dict[str, Any]) -> None:
    agent = telegraf["agent"]
    assert agent["interval"] == "10s"
    assert agent["flush_interval"] == "10s"
    assert agent.get("omit_hostname", False) is False, "the host tag is the Kafka key"


def test_telegraf_collects_every_host_input(telegraf: dict[str, Any]) -> None:
    inputs = telegraf["inputs"]
    for name in METRIC_INPUTS:
        assert name in inputs, f"inputs.{name} missing"
    (cpu,) = inputs["cpu"]
    assert cpu["percpu"] is True
    assert cpu["totalcpu"] is True
    assert cpu["report_active"] is True, "alert rules use cpu usage_active"
    (disk,) = inputs["disk"]
    assert {"tmpfs", "devtmpfs", "overlay"} <= set(disk["ignore_fs"])


def test_telegraf_kafka_outputs_match_the_topic_contract(telegraf: dict[str, Any]) -> None:
    outputs = _kafka_outputs(telegraf)
    assert sorted(o["topic"] for o in outputs) == sorted([topics.METRICS, topics.LOGS_NGINX])
    for output in outputs:
        assert output["routing_tag"] == "host", "input topics are keyed by host"
        assert output["data_format"] == "json"
        assert output["json_timestamp_units"] == "1s"
        assert output["brokers"] == ["${KAFKA_BROKERS}"]
        assert output.get("namepass"), "each Kafka output must select its measurements"


def test_telegraf_kafka_outputs_have_no_batch_option(telegraf: dict[str, Any]) -> None:
    # outputs.kafka has no use_batch_format (it writes one message per metric) and Telegraf
    # refuses to start on an option a plugin does not have; see the note in telegraf.conf.
    for output in _kafka_outputs(telegraf):
        assert "use_batch_format" not in output


def _measurement(plugin: str, instance: dict[str, Any]) -> str:
    return str(instance.get("name_override", plugin))


def _routes(measurement: str, outputs: list[dict[str, Any]]) -> list[str]:
    return [
        o["topic"]
        for o in outputs
        if any(fnmatch.fnmatchcase(measurement, pattern) for pattern in o["namepass"])
    ]


def test_every_input_reaches_exactly_its_topic(telegraf: dict[str, Any]) -> None:
    outputs = _kafka_outputs(telegraf)
    expected = {name: topics.METRICS for name in METRIC_INPUTS}
    expected |= {"nginx_access_log": topics.LOGS_NGINX, "nginx_error_log": topics.LOGS_NGINX}
    seen = set()
    for plugin, instances in telegraf["inputs"].items():
        for instance in instances:
            measurement = _measurement(plugin, instance)
            routes = _routes(measurement, outputs)
            if plugin == "internal":
                assert routes == [], "Telegraf's own statistics must not reach Kafka"
                continue
            assert routes == [expected[measurement]], f"{measurement} goes to {routes}"
            seen.add(measurement)
    assert seen == set(expected)


def test_health_output_watches_the_kafka_buffers(telegraf: dict[str, Any]) -> None:
    (health,) = telegraf["outputs"]["health"]
    assert health["service_address"] == "http://:8888"
    assert health["namepass"] == ["internal_write"]
    assert "internal" in telegraf["inputs"]


def test_telegraf_dollar_signs_are_only_known_env_references(
    telegraf_text: str, services: dict[str, Any]
) -> None:
    # Telegraf replaces $NAME and ${NAME} anywhere in the file (comments included) before
    # parsing, so a stray dollar in a regex or a comment changes the configuration.
    references = re.findall(r"\$\{([A-Z_][A-Z0-9_]*)\}", telegraf_text)
    assert telegraf_text.count("$") == len(references)
    assert set(references) <= set(services["telegraf"]["environment"])


def test_nginx_access_tail_uses_grok_with_a_service_tag(telegraf: dict[str, Any]) -> None:
    tails = _tails(telegraf, "nginx_access_log")
    assert tails, "an inputs.tail with name_override nginx_access_log is required"
    for tail in tails:
        assert tail["data_format"] == "grok"
        assert tail["tags"]["service"]
        assert all(path.startswith(NGINX_LOG_DIR + "/") for path in tail["files"])
        assert any("COMBINED_LOG_FORMAT" in p for p in _grok_library_closure(tail))


def test_nginx_error_tail_joins_continuation_lines(telegraf: dict[str, Any]) -> None:
    tails = _tails(telegraf, "nginx_error_log")
    assert tails, "an inputs.tail with name_override nginx_error_log is required"
    for tail in tails:
        assert tail["data_format"] == "value"
        assert tail["data_type"] == "string"
        assert tail["tags"]["service"]
        multiline = tail["multiline"]
        assert multiline["match_which_line"] == "previous"
        assert multiline["invert_match"] is True
        starts_entry = re.compile(multiline["pattern"])  # RE2 syntax, a subset of Python's
        first, *continuation = ERROR_ENTRY_WITH_CONTINUATION.splitlines()
        assert starts_entry.search(first)
        assert continuation
        assert not any(starts_entry.search(line) for line in continuation)
        assert all(starts_entry.search(line) for line in REAL_ERROR_LINES)


# --- grok: the access-log pattern, expanded the way Telegraf expands it -------------------------

# Base patterns used by COMBINED_LOG_FORMAT, written for Python's re with the meaning of the
# logstash/Telegraf definitions (IPV6 is simplified: it only has to accept real addresses).
GROK_BASE = {
    "INT": r"(?:[+-]?(?:[0-9]+))",
    "POSINT": r"\b(?:[1-9][0-9]*)\b",
    "BASE10NUM": r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)",
    "NUMBER": r"(?:%{BASE10NUM})",
    "WORD": r"\b\w+\b",
    "NOTSPACE": r"\S+",
    "DATA": r".*?",
    "GREEDYDATA": r".*",
    "IPV4": r"(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]{1,2})",
    "IPV6": r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}",
    "IP": r"(?:%{IPV6}|%{IPV4})",
    "HOSTNAME": r"\b[0-9A-Za-z][0-9A-Za-z-]{0,62}(?:\.[0-9A-Za-z][0-9A-Za-z-]{0,62})*\b",
    "IPORHOST": r"(?:%{IP}|%{HOSTNAME})",
    "HOSTPORT": r"%{IPORHOST}:%{POSINT}",
    "MONTHDAY": r"(?:0[1-9]|[12][0-9]|3[01]|[1-9])",
    "MONTH": r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b",
    "YEAR": r"[0-9]{4}",
    "HOUR": r"(?:2[0123]|[01]?[0-9])",
    "MINUTE": r"(?:[0-5][0-9])",
    "SECOND": r"(?:[0-5]?[0-9]|60)(?:[:.,][0-9]+)?",
    "TIME": r"%{HOUR}:%{MINUTE}(?::%{SECOND})",
    "HTTPDATE": r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}",
}
# Telegraf's own built-ins (plugins/parsers/grok/influx_patterns.go).
GROK_TELEGRAF = {
    "NGUSERNAME": r"[a-zA-Z0-9\.\@\-\+_%]+",
    "NGUSER": r"%{NGUSERNAME}",
    "CLIENT": r"(?:%{IPV6}|%{IPV4}|%{HOSTNAME}|%{HOSTPORT})",
    "COMMON_LOG_FORMAT": (
        r"%{CLIENT:client_ip} %{NOTSPACE:ident} %{NOTSPACE:auth} \[%{HTTPDATE:ts:ts-httpd}\] "
        r'"(?:%{WORD:verb:tag} %{NOTSPACE:request}(?: HTTP/%{NUMBER:http_version:float})?'
        r'|%{DATA})" %{NUMBER:resp_code:tag} (?:%{NUMBER:resp_bytes:int}|-)'
    ),
    "COMBINED_LOG_FORMAT": r'%{COMMON_LOG_FORMAT} "%{DATA:referrer}" "%{DATA:agent}"',
}
GROK_REF = re.compile(r"%\{(\w+)(?::(\w+))?(?::([\w-]+))?\}")


def _custom_patterns(tail: dict[str, Any]) -> dict[str, str]:
    patterns = {}
    for line in tail.get("grok_custom_patterns", "").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, body = line.strip().partition(" ")
            patterns[name] = body.strip()
    return patterns


def _grok_library(tail: dict[str, Any]) -> dict[str, str]:
    return GROK_BASE | GROK_TELEGRAF | _custom_patterns(tail)


def _grok_library_closure(tail: dict[str, Any]) -> list[str]:
    """Every pattern body reachable from the tail's grok_patterns."""
    library, todo, seen = _grok_library(tail), list(tail["grok_patterns"]), []
    while todo:
        body = todo.pop()
        seen.append(body)
        todo.extend(library[name] for name, *_ in GROK_REF.findall(body) if name in library)
    return seen


def _grok_compile(pattern: str, library: dict[str, str]) -> tuple[re.Pattern[str], dict[str, str]]:
    """Expand %{NAME:field:modifier} like Telegraf; returns the regex and field -> modifier."""
    modifiers: dict[str, str] = {}

    def expand(body: str, depth: int) -> str:
        assert depth < 20, "recursive grok pattern"

        def replace(match: re.Match[str]) -> str:
            name, field, modifier = match.groups()
            inner = expand(library[name], depth + 1)
            if not field:
                return f"(?:{inner})"
            modifiers[field] = modifier or "string"
            return f"(?P<{field}>{inner})"

        return GROK_REF.sub(replace, body)

    return re.compile(expand(pattern, 0)), modifiers


def _grok_metric(
    match: re.Match[str], modifiers: dict[str, str], *, name: str, tags: dict[str, str]
) -> dict[str, Any]:
    """The metric Telegraf's grok parser and json serializer (units 1s) make of a match."""
    fields: dict[str, Any] = {}
    metric_tags = dict(tags)
    timestamp = None
    for field, modifier in modifiers.items():
        value = match.group(field)
        if not value:
            continue  # Telegraf skips empty captures
        if modifier == "tag":
            metric_tags[field] = value
        elif modifier == "int":
            fields[field] = int(value)
        elif modifier == "float":
            fields[field] = float(value)
        elif modifier == "ts-httpd":
            timestamp = int(datetime.strptime(value, "%d/%b/%Y:%H:%M:%S %z").timestamp())
        else:
            fields[field] = value
    return {"fields": fields, "name": name, "tags": metric_tags, "timestamp": timestamp}


def test_grok_pattern_names_are_all_defined(telegraf: dict[str, Any]) -> None:
    for tail in _tails(telegraf, "nginx_access_log"):
        library = _grok_library(tail)
        custom = _custom_patterns(tail)
        assert custom, "grok_custom_patterns must define the timing pattern"
        for body in [*tail["grok_patterns"], *custom.values()]:
            for name, *_ in GROK_REF.findall(body):
                assert name in library, f"grok pattern %{{{name}}} is not defined"


# Variables of the "lookout" log_format, per sample line, and what the line means.
ACCESS_SAMPLES = [
    {
        "vars": {
            "remote_addr": "203.0.113.7",
            "remote_user": "-",
            "time_local": "10/Oct/2024:13:55:36 +0000",
            "request": "GET /api/items?id=42 HTTP/1.1",
            "status": "200",
            "body_bytes_sent": "16",
            "http_referer": "https://shop.example/cart",
            "http_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "request_time": "0.013",
            "upstream_response_time": "0.012",
        },
        "expect": {"method": "GET", "path": "/api/items?id=42", "status": 200, "bytes": 16},
        "request_time": 0.013,
        "upstream_time": 0.012,
    },
    {
        "vars": {
            "remote_addr": "198.51.100.23",
            "remote_user": "-",
            "time_local": "10/Oct/2024:13:55:37 +0000",
            "request": "POST /api/orders HTTP/1.1",
            "status": "502",
            "body_bytes_sent": "157",
            "http_referer": "-",
            "http_user_agent": "curl/8.5.0",
            "request_time": "0.001",
            "upstream_response_time": "0.000",
        },
        "expect": {"method": "POST", "path": "/api/orders", "status": 502, "bytes": 157},
        "request_time": 0.001,
        "upstream_time": 0.0,
    },
    {
        "vars": {
            "remote_addr": "2001:db8::1",
            "remote_user": "alice",
            "time_local": "10/Oct/2024:13:55:38 +0000",
            "request": "GET / HTTP/2.0",
            "status": "200",
            "body_bytes_sent": "612",
            "http_referer": "-",
            "http_user_agent": "Mozilla/5.0",
            "request_time": "0.000",
            "upstream_response_time": "-",
        },
        "expect": {"method": "GET", "path": "/", "status": 200, "bytes": 612},
        "request_time": 0.0,
        "upstream_time": None,
    },
]
# Retries and internal redirects make nginx log several upstream times.
MULTI_UPSTREAM_TIMES = ("0.004, 0.002", "0.010 : 0.003", "-, 0.002")
# Written by nginx 1.22 running infra/nginx/nginx.conf (ports moved for the test run).
REAL_ACCESS_LINES = [
    '127.0.0.1 - - [22/Nov/2026:02:30:25 +0000] "GET /api/items?id=2 HTTP/1.1" 502 157 '
    '"http://ref.example/x" "Mozilla/5.0 (X11)" 0.001 0.000',
    '127.0.0.1 - - [22/Nov/2026:02:30:25 +0000] "GET /missing HTTP/1.1" 404 153 "-" '
    '"curl/7.88.1" 0.000 -',
]
REAL_ERROR_LINES = [
    "2026/11/22 02:30:25 [error] 6183#6183: *4 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 127.0.0.1, server: shop, request: "GET /api/items?id=2 '
    'HTTP/1.1", upstream: "http://127.0.0.1:18082/api/items?id=2", host: "127.0.0.1:18080", '
    'referrer: "http://ref.example/x"',
    '2026/11/22 02:30:25 [error] 6183#6183: *34 open() "/tmp/ngxt/html/missing" failed (2: No '
    'such file or directory), client: 127.0.0.1, server: shop, request: "GET /missing HTTP/1.1", '
    'host: "127.0.0.1:18080"',
]
ERROR_ENTRY = (
    "2024/10/10 13:55:36 [error] 31#31: *4 connect() failed (111: Connection refused) while "
    'connecting to upstream, client: 203.0.113.7, server: shop, request: "GET /api/items?id=2 '
    'HTTP/1.1", upstream: "http://127.0.0.1:8082/api/items?id=2", host: "localhost:8080"'
)
ERROR_ENTRY_WITH_CONTINUATION = (
    "2024/10/10 13:55:40 [crit] 31#31: *9 SSL_do_handshake() failed\n"
    "    while SSL handshaking, client: 203.0.113.7\n"
    "\tserver: 0.0.0.0:443"
)
SAMPLE_TIMES = {
    "10/Oct/2024:13:55:36 +0000": datetime(2024, 10, 10, 13, 55, 36, tzinfo=UTC).timestamp(),
    "10/Oct/2024:13:55:37 +0000": datetime(2024, 10, 10, 13, 55, 37, tzinfo=UTC).timestamp(),
    "10/Oct/2024:13:55:38 +0000": datetime(2024, 10, 10, 13, 55, 38, tzinfo=UTC).timestamp(),
}


def _render(log_format: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], log_format)


def _access_regex(telegraf: dict[str, Any]) -> tuple[re.Pattern[str], dict[str, str]]:
    tail = _tails(telegraf, "nginx_access_log")[0]
    (pattern,) = tail["grok_patterns"]
    return _grok_compile(pattern, _grok_library(tail))


def test_nginx_log_format_is_combined_plus_timings(log_format: str) -> None:
    assert log_format == NGINX_COMBINED + " $request_time $upstream_response_time"


def test_nginx_writes_the_tailed_files_in_the_lookout_format(
    nginx_text: str, telegraf: dict[str, Any]
) -> None:
    access = re.findall(r"^\s*access_log\s+(\S+)\s+(\S+?);", nginx_text, re.M)
    errors = re.findall(r"^\s*error_log\s+(\S+)", nginx_text, re.M)
    access_files = {path for path, _ in access}
    assert access_files and all(fmt == "lookout" for _, fmt in access)
    error_files = {path for path in errors if path.startswith(NGINX_LOG_DIR)}
    tailed_access = {f for t in _tails(telegraf, "nginx_access_log") for f in t["files"]}
    tailed_errors = {f for t in _tails(telegraf, "nginx_error_log") for f in t["files"]}
    assert access_files == tailed_access
    assert error_files and error_files == tailed_errors


def test_grok_pattern_parses_the_lookout_format(telegraf: dict[str, Any], log_format: str) -> None:
    regex, modifiers = _access_regex(telegraf)
    for sample in ACCESS_SAMPLES:
        variables = sample["vars"]
        match = regex.search(_render(log_format, variables))
        assert match, _render(log_format, variables)
        metric = _grok_metric(match, modifiers, name="nginx_access_log", tags={})
        assert metric["tags"]["resp_code"] == variables["status"]
        assert metric["tags"]["verb"] == sample["expect"]["method"]
        assert metric["fields"]["client_ip"] == variables["remote_addr"]
        assert metric["fields"]["request"] == sample["expect"]["path"]
        assert metric["fields"]["resp_bytes"] == sample["expect"]["bytes"]
        assert metric["fields"]["agent"] == variables["http_user_agent"]
        assert metric["fields"]["request_time"] == float(variables["request_time"])
        assert metric["fields"]["upstream_response_time"] == variables["upstream_response_time"]
        assert metric["timestamp"] == SAMPLE_TIMES[variables["time_local"]]
    for upstream in MULTI_UPSTREAM_TIMES:
        variables = ACCESS_SAMPLES[0]["vars"] | {"upstream_response_time": upstream}
        match = regex.search(_render(log_format, variables))
        assert match and match.group("upstream_response_time") == upstream
    for line in REAL_ACCESS_LINES:
        assert regex.search(line), line


# --- the worker's nginx parser on what nginx and Telegraf produce --------------------------------


def _check_access(record: Any, sample: dict[str, Any], *, host: str, service: str) -> None:
    from formats.points import AccessLog

    assert isinstance(record, AccessLog)
    expect = sample["expect"]
    assert (record.method, record.path, record.status, record.bytes) == (
        expect["method"],
        expect["path"],
        expect["status"],
        expect["bytes"],
    )
    assert record.client_ip == sample["vars"]["remote_addr"]
    assert record.time == SAMPLE_TIMES[sample["vars"]["time_local"]]
    assert record.request_time == pytest.approx(sample["request_time"])
    if sample["upstream_time"] is None:
        assert record.upstream_time is None
    else:
        assert record.upstream_time == pytest.approx(sample["upstream_time"])
    assert (record.host, record.service) == (host, service)


def test_decode_nginx_reads_raw_lines_in_the_lookout_format(log_format: str) -> None:
    from formats.decode import decode_nginx

    for sample in ACCESS_SAMPLES:
        line = _render(log_format, sample["vars"]).encode()
        records, rejected = decode_nginx(line, default_host="web-1", default_service="shop")
        assert rejected == []
        assert len(records) == 1
        _check_access(records[0], sample, host="web-1", service="shop")


def test_decode_nginx_reads_telegraf_grok_json(telegraf: dict[str, Any], log_format: str) -> None:
    from formats.decode import decode_nginx

    regex, modifiers = _access_regex(telegraf)
    tags = {"host": "web-7", "path": NGINX_LOG_DIR + "/shop.access.log", "service": "shop"}
    for sample in ACCESS_SAMPLES:
        match = regex.search(_render(log_format, sample["vars"]))
        assert match
        payload = json.dumps(_grok_metric(match, modifiers, name="nginx_access_log", tags=tags))
        records, rejected = decode_nginx(
            payload.encode(), default_host="fallback", default_service="nginx"
        )
        assert rejected == []
        assert len(records) == 1
        _check_access(records[0], sample, host="web-7", service="shop")


def test_decode_nginx_reads_error_entries_raw_and_from_telegraf() -> None:
    from formats.decode import decode_nginx
    from formats.points import ErrorLog

    logged_at = datetime(2024, 10, 10, 13, 55, 36, tzinfo=UTC).timestamp()
    telegraf_json = {
        "fields": {"value": ERROR_ENTRY},
        "name": "nginx_error_log",
        "tags": {"host": "web-7", "path": NGINX_LOG_DIR + "/shop.error.log", "service": "shop"},
        "timestamp": int(logged_at) + 2,  # read by Telegraf a little later
    }
    cases = [
        (ERROR_ENTRY.encode(), "web-1", "shop"),
        (json.dumps(telegraf_json).encode(), "web-7", "shop"),
    ]
    for payload, host, service in cases:
        records, rejected = decode_nginx(payload, default_host="web-1", default_service="shop")
        assert rejected == []
        assert len(records) == 1
        (record,) = records
        assert isinstance(record, ErrorLog)
        assert record.level == "error"
        assert record.time == logged_at, "event time is the log's own time"
        assert "connect() failed" in record.message
        assert (record.host, record.service) == (host, service)


# --- docker-compose.yml ---------------------------------------------------------------------------

ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Docker Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error} and $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name)
        if operator in (":-", "-"):
            unset = value is None or (operator == ":-" and value == "")
            return argument if unset else value
        if operator in (":?", "?") and not value:
            raise KeyError(f"{name}: {argument}")
        return value or ""

    return ENV_REFERENCE.sub(replace, value)


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {k: None if v is None else str(v) for k, v in env.items()}


def _volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every short-syntax volume."""
    pairs = []
    for volume in service.get("volumes", []):
        source, target, *_mode = volume.split(":")
        pairs.append((source, target))
    return pairs


def _is_bind(source: str) -> bool:
    return source.startswith(("./", "/", "~", "../"))


def test_compose_has_every_service(services: dict[str, Any]) -> None:
    assert set(LONG_RUNNING + ONE_SHOT) <= set(services)


def test_long_running_services_have_healthchecks(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} needs a healthcheck"
        assert not check.get("disable", False)
    for name in ONE_SHOT:
        assert services[name].get("restart") == "no", f"{name} runs once"


def test_published_ports_match_what_each_service_listens_on(
    services: dict[str, Any], nginx_text: str
) -> None:
    def container_ports(name: str) -> set[int]:
        ports = services[name].get("ports", [])
        assert ports, f"{name} publishes no port"
        return {int(str(p).rsplit(":", 1)[-1]) for p in ports}

    kafka_env = _environment(services["kafka"])
    host_listener = re.search(
        r"PLAINTEXT_HOST://[^:,]+:(\d+)", kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    )
    assert host_listener
    assert container_ports("kafka") == {int(host_listener.group(1))}
    assert container_ports("postgres") == {5432}
    assert container_ports("elasticsearch") == {9200}
    assert container_ports("grafana") == {3000}
    nginx_listen = re.search(r"listen\s+(\d+)\s+default_server", nginx_text)
    assert nginx_listen
    assert container_ports("nginx") == {int(nginx_listen.group(1))}
    assert container_ports("worker") == {Settings.model_fields["web_port"].default}


def test_named_volumes_are_declared_and_bind_mounts_exist(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    declared = set(compose.get("volumes") or {})
    used = set()
    for name, service in services.items():
        for source, _target in _volumes(service):
            if not _is_bind(source):
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
            elif source.startswith("./") and source != "./rules":
                # ./rules may be empty in a fresh clone (git keeps no empty folders)
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
    assert used == declared, f"declared but unused: {declared - used}"


def test_grafana_mounts_provisioning_and_dashboards(services: dict[str, Any]) -> None:
    mounts = dict(_volumes(services["grafana"]))
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./grafana/dashboards"] == "/var/lib/grafana/dashboards"


def test_nginx_and_telegraf_share_the_log_volume(services: dict[str, Any]) -> None:
    nginx_logs = {s for s, t in _volumes(services["nginx"]) if t == NGINX_LOG_DIR}
    telegraf_logs = {s for s, t in _volumes(services["telegraf"]) if t == NGINX_LOG_DIR}
    assert nginx_logs and nginx_logs == telegraf_logs
    assert not any(_is_bind(source) for source in nginx_logs)


def test_telegraf_service_reads_its_config_and_the_host(services: dict[str, Any]) -> None:
    telegraf = services["telegraf"]
    mounts = dict(_volumes(telegraf))
    assert mounts["./infra/telegraf/telegraf.conf"] == "/etc/telegraf/telegraf.conf"
    env = _environment(telegraf)
    for variable in ("HOST_PROC", "HOST_SYS", "HOST_ETC", "HOST_MOUNT_PREFIX"):
        assert env[variable], f"{variable} missing"
        assert any(env[variable].startswith(target) for target in mounts.values())
    assert telegraf["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_worker_environment_is_valid_lookout_settings(services: dict[str, Any]) -> None:
    env = _environment(services["worker"])
    names = {key for key in env if key.startswith("LOOKOUT_")}
    unknown = {
        key for key in names if key.removeprefix("LOOKOUT_").lower() not in Settings.model_fields
    }
    assert not unknown, f"not settings: {unknown}"
    required = {
        "LOOKOUT_BROKER_URL",
        "LOOKOUT_POSTGRES_DSN",
        "LOOKOUT_ELASTICSEARCH_URL",
        "LOOKOUT_API_TOKEN",
        "LOOKOUT_WEB_HOST",
    }
    assert required <= names
    # Resolve the compose defaults as `docker compose up` would with an empty environment;
    # a valueless entry (the API token) is passed through from the shell, or stays unset.
    resolved = {k: _interpolate(v, {}) for k, v in env.items() if v is not None}
    settings = load_settings(resolved)
    assert settings.broker_url == "kafka://kafka:9092"
    assert settings.elasticsearch_url == "http://elasticsearch:9200"
    assert settings.web_host == "0.0.0.0"
    assert settings.postgres_dsn is not None
    assert "@postgres:5432/lookout" in settings.postgres_dsn.get_secret_value()


def test_workers_can_turn_notifications_on_with_the_example_file(services: dict[str, Any]) -> None:
    worker = services["worker"]
    mounts = dict(_volumes(worker))
    assert mounts["./notify"] == "/app/notify"
    assert (ROOT / "notify" / "notify.yaml").is_file()
    env = _environment(worker)
    # passed through from the shell (valueless): off unless the operator sets them
    assert "LOOKOUT_NOTIFY_FILE" in env and env["LOOKOUT_NOTIFY_FILE"] is None
    named = set(re.findall(r"\$\{([A-Z_]+)\}", (ROOT / "notify" / "notify.yaml").read_text()))
    named.discard("VAR")  # the comment that explains ${VAR}
    for variable in named:
        assert variable in env and env[variable] is None, f"{variable} not passed through"


def test_brokers_match_the_kafka_listener(services: dict[str, Any]) -> None:
    kafka = _environment(services["kafka"])
    internal = re.search(r"(?:^|,)PLAINTEXT://([^,]+)", kafka["KAFKA_ADVERTISED_LISTENERS"])
    assert internal
    broker = internal.group(1)
    assert _environment(services["worker"])["LOOKOUT_BROKER_URL"] == f"kafka://{broker}"
    assert _environment(services["telegraf"])["KAFKA_BROKERS"] == broker
    assert _environment(services["kafka-init"])["BOOTSTRAP"] == broker


def test_kafka_runs_kraft_without_topic_auto_creation(services: dict[str, Any]) -> None:
    kafka = services["kafka"]
    env = _environment(kafka)
    assert kafka["image"].startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    test = " ".join(kafka["healthcheck"]["test"])
    assert "kafka-broker-api-versions.sh" in test or "kafka-topics.sh" in test


def test_kafka_init_creates_exactly_the_lookout_topics(services: dict[str, Any]) -> None:
    init = services["kafka-init"]
    env = _environment(init)
    created = env["TOPICS"].split()
    assert len(created) == len(set(created))
    assert set(created) == set(topics.ALL_TOPICS)
    assert int(env["PARTITIONS"]) == Settings.model_fields["partitions"].default == 8
    script = " ".join(init["command"])
    assert "kafka-topics.sh" in script
    assert "--create" in script
    assert "--if-not-exists" in script
    assert "$${TOPICS}" in script, "the topic list comes from TOPICS"
    assert "--partitions" in script


def test_workers_scale_up_to_the_partition_count(services: dict[str, Any]) -> None:
    worker = services["worker"]
    partitions = int(_environment(services["kafka-init"])["PARTITIONS"])
    assert int(_environment(worker)["LOOKOUT_PARTITIONS"]) == partitions
    replicas = worker.get("deploy", {}).get("replicas", 1)
    assert 1 <= replicas <= partitions
    assert "container_name" not in worker, "a fixed name prevents --scale"
    (port,) = worker["ports"]
    host_range = re.search(r"(\d+)-(\d+):\d+$", port)
    assert host_range, "scaled workers need a host port range"
    first, last = map(int, host_range.groups())
    assert last - first + 1 >= partitions


def test_services_start_in_dependency_order(services: dict[str, Any]) -> None:
    def conditions(name: str) -> dict[str, str]:
        return {dep: spec["condition"] for dep, spec in services[name]["depends_on"].items()}

    worker = conditions("worker")
    assert worker["kafka-init"] == "service_completed_successfully"
    assert worker["migrate"] == "service_completed_successfully"
    assert worker["elasticsearch"] == "service_healthy"
    assert conditions("migrate")["postgres"] == "service_healthy"
    assert conditions("kafka-init")["kafka"] == "service_healthy"
    assert conditions("telegraf")["kafka"] == "service_healthy"
    assert conditions("telegraf")["kafka-init"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("worker", "migrate"):
        build = services[name]["build"]
        assert build["dockerfile"] == "infra/Dockerfile"
        assert (ROOT / build.get("context", ".") / build["dockerfile"]).is_file()


def test_postgres_and_elasticsearch_are_configured_for_dev(services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert _environment(postgres)["POSTGRES_DB"] == "lookout"
    assert ":-" in _environment(postgres)["POSTGRES_PASSWORD"], "dev default, env override"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    elastic = services["elasticsearch"]
    env = _environment(elastic)
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == "false"
    assert "-Xmx" in env["ES_JAVA_OPTS"]
    assert "_cluster/health" in " ".join(elastic["healthcheck"]["test"])


def test_elasticsearch_server_major_matches_the_python_client(services: dict[str, Any]) -> None:
    # The official client sends compatible-with=<its major>; a server of another major
    # rejects every request.
    tag = services["elasticsearch"]["image"].rsplit(":", 1)[1]
    client_major = importlib.metadata.version("elasticsearch").split(".")[0]
    assert tag.split(".")[0] == client_major


def test_dockerfile_runs_lookout_as_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.M)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["lookout"\]$', text, re.M)
    assert re.search(r'^CMD \["worker", "-l", "info"\]$', text, re.M)
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.*)$", text, re.M | re.S)
    assert healthcheck
    assert "urllib" in healthcheck.group(1)
    assert "/api/health" in healthcheck.group(1)
    assert "pip install" in text


# --- Grafana provisioning ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def datasources() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load(DATASOURCES_FILE.read_text())
    assert config["apiVersion"] == 1
    by_uid = {ds["uid"]: ds for ds in config["datasources"]}
    assert len(by_uid) == len(config["datasources"]), "duplicate uid"
    return by_uid


def test_datasource_uids(datasources: dict[str, dict[str, Any]]) -> None:
    assert set(datasources) == {
        "lookout-postgres",
        "lookout-es-nginx",
        "lookout-es-app",
        "lookout-es-incidents",
        "lookout-prometheus",
    }


def test_postgres_datasource(
    datasources: dict[str, dict[str, Any]], services: dict[str, Any]
) -> None:
    pg = datasources["lookout-postgres"]
    assert pg["type"] in ("grafana-postgresql-datasource", "postgres")
    assert pg["url"] == "postgres:5432"
    assert "database" not in pg, "Grafana 12 reads the database from jsonData only"
    assert pg["jsonData"]["database"] == "lookout"
    assert pg["jsonData"]["sslmode"] == "disable"
    grafana_env = _environment(services["grafana"])
    for value in (pg["user"], pg["secureJsonData"]["password"]):
        names = re.findall(r"\$(?:__env)?\{(\w+)\}", value)
        assert names, f"{value!r} must come from the environment"
        assert set(names) <= set(grafana_env), f"grafana service does not set {names}"


def test_elasticsearch_datasources(
    datasources: dict[str, dict[str, Any]], services: dict[str, Any]
) -> None:
    expected = {
        "lookout-es-nginx": "logs-nginx-*",
        "lookout-es-app": "logs-app-*",
        "lookout-es-incidents": "lookout-incidents",
    }
    for uid, index in expected.items():
        ds = datasources[uid]
        assert ds["type"] == "elasticsearch"
        assert ds["url"] == "http://elasticsearch:9200"
        assert ds["jsonData"]["index"] == index, "the index lives in jsonData.index"
        assert ds["jsonData"]["timeField"] == "@timestamp"
        assert "database" not in ds, "deprecated: use jsonData.index"
    assert "elasticsearch" in services


def test_dashboard_provider_points_at_the_mounted_dashboards(services: dict[str, Any]) -> None:
    config = yaml.safe_load(DASHBOARD_PROVIDERS_FILE.read_text())
    assert config["apiVersion"] == 1
    mounts = {target: source for source, target in _volumes(services["grafana"])}
    for provider in config["providers"]:
        assert provider["type"] == "file"
        path = provider["options"]["path"]
        assert path in mounts, f"{path} is not mounted into grafana"
        assert (ROOT / mounts[path]).is_dir()
    assert (GRAFANA_DIR / "dashboards" / ".gitkeep").exists()


def test_dashboards_use_only_provisioned_datasources(
    datasources: dict[str, dict[str, Any]],
) -> None:
    def uids(node: Any) -> list[str]:
        if isinstance(node, dict):
            source = node.get("datasource")
            found = [str(source["uid"])] if isinstance(source, dict) and "uid" in source else []
            return found + [u for v in node.values() for u in uids(v)]
        if isinstance(node, list):
            return [u for v in node for u in uids(v)]
        return []

    builtin = {"grafana", "-- Grafana --", "-- Mixed --", "-- Dashboard --"}
    for dashboard in sorted((GRAFANA_DIR / "dashboards").glob("**/*.json")):
        used = {u for u in uids(json.loads(dashboard.read_text())) if not u.startswith("$")}
        assert used <= set(datasources) | builtin, f"{dashboard.name}: {used - set(datasources)}"
