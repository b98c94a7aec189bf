"""A generated log corpus: 48 templates (and 4 near twins) with realistic variables, fixed seed.

Each template is a function of a ``random.Random`` returning one message; :func:`corpus` draws
lines over services with skewed (Zipf-like) template frequencies, so some templates are rare.
Variables: ids, IPv4/IPv6 addresses, ports, paths, URLs, numbers, quoted strings, durations,
UUIDs, hex ids, emails, timestamps, and plain words (user names, statuses) that no mask knows.
"""

# ruff: noqa: E501  (one template per line reads best)
from __future__ import annotations

import random
import uuid
from collections.abc import Callable

Template = Callable[[random.Random], str]

_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]
_WORDS = ["cart", "checkout", "orders", "users", "search", "static", "img", "api", "v1", "items"]
_CARD = ["card declined", "insufficient funds", "expired card", "fraud suspected"]
_TABLES = ["orders", "users", "payments", "sessions", "carts"]
_METHODS = ["GET", "POST", "PUT", "DELETE"]


def _ip(r: random.Random) -> str:
    return f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _ip6(r: random.Random) -> str:
    return "2001:db8:" + ":".join(f"{r.randint(0, 65535):x}" for _ in range(3)) + "::1"


def _path(r: random.Random) -> str:
    return "/" + "/".join(r.choice(_WORDS) for _ in range(r.randint(1, 4)))


def _request(r: random.Random) -> str:
    return f"{r.choice(_METHODS)} {_path(r)}?id={r.randint(1, 99999)} HTTP/1.1"


def _host(r: random.Random) -> str:
    return r.choice(["shop.example.com", "api.example.com", "www.example.org"])


def _ctx(r: random.Random, upstream: bool = True) -> str:
    """nginx's trailing context: client, server, request, upstream, host."""
    up = f', upstream: "http://10.0.{r.randint(0, 9)}.{r.randint(1, 99)}:8080{_path(r)}"'
    return (
        f', client: {_ip(r)}, server: {_host(r)}, request: "{_request(r)}"'
        f'{up if upstream else ""}, host: "{_host(r)}"'
    )


def _ms(r: random.Random) -> str:
    return f"{r.randint(1, 5000)}ms"


def _secs(r: random.Random) -> str:
    return f"{r.uniform(0.1, 30):.{r.randint(1, 3)}f}s"


def _hex(r: random.Random, n: int = 12) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def _uuid(r: random.Random) -> str:
    return str(uuid.UUID(int=r.getrandbits(128)))


def _ts(r: random.Random) -> str:
    return (
        f"2026-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
        f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999):03d}Z"
    )


NGINX: list[Template] = [
    lambda r: (
        "upstream timed out (110: Connection timed out) while reading response header "
        "from upstream" + _ctx(r)
    ),
    lambda r: "connect() failed (111: Connection refused) while connecting to upstream" + _ctx(r),
    lambda r: (
        f'open() "/var/www/html{_path(r)}.html" failed (2: No such file or directory)'
        + _ctx(r, upstream=False)
    ),
    lambda r: "no live upstreams while connecting to upstream" + _ctx(r),
    lambda r: (
        f"client intended to send too large body: {r.randint(1_000_000, 90_000_000)} bytes"
        + _ctx(r, upstream=False)
    ),
    lambda r: (
        "upstream prematurely closed connection while reading response header from "
        "upstream" + _ctx(r)
    ),
    lambda r: f'limiting requests, excess: {r.uniform(0, 50):.3f} by zone "api"' + _ctx(r, False),
    lambda r: f'directory index of "/var/www{_path(r)}/" is forbidden' + _ctx(r, upstream=False),
    lambda r: (
        f"SSL_do_handshake() failed (SSL: error:{_hex(r, 8).upper()}:SSL routines::"
        f"wrong version number) while SSL handshaking, client: {_ip(r)}, server: 0.0.0.0:443"
    ),
    lambda r: (
        f"recv() failed (104: Connection reset by peer) while reading response header "
        f"from upstream, client: {_ip6(r)}, server: {_host(r)}"
    ),
    lambda r: f"worker process {r.randint(100, 65000)} exited on signal {r.choice([9, 11, 6])}",
    lambda r: f"*{r.randint(1, 10**7)} access forbidden by rule, client: {_ip(r)}, server: x",
    lambda r: (
        f'FastCGI sent in stderr: "PHP message: PHP Warning:  Undefined variable '
        f'${r.choice(_USERS)} in /srv/app{_path(r)}.php on line {r.randint(1, 900)}" while reading '
        "response header from upstream" + _ctx(r)
    ),
    lambda r: (
        f"a client request body is buffered to a temporary file "
        f"/var/cache/nginx/client_temp/{r.randint(10**9, 10**10)}" + _ctx(r, upstream=False)
    ),
    lambda r: "upstream sent too big header while reading response header from upstream" + _ctx(r),
    lambda r: (
        f'cannot allocate {r.randint(1, 512)}KB of shared memory zone "cache_{r.randint(1, 9)}"'
    ),
]

APP: list[Template] = [
    lambda r: f"user {r.randint(1, 10**6)} logged in from {_ip(r)} in {_ms(r)}",
    lambda r: f"user {r.randint(1, 10**6)} logged out after {r.randint(1, 600)}m idle",
    lambda r: f"order {_hex(r)} failed: {r.choice(_CARD)}",
    lambda r: (
        f"order {_hex(r)} created for customer {r.randint(1, 10**6)} total {r.uniform(1, 999):.2f} EUR"
    ),
    lambda r: f"payment {_uuid(r)} captured amount={r.randint(100, 99999)} currency=EUR",
    lambda r: (
        f"payment {_uuid(r)} refunded by {r.choice(_USERS)} reason={r.choice(['dup', 'fraud', 'return'])}"
    ),
    lambda r: f"GET {_path(r)} returned {r.choice([200, 201, 204, 304])} in {_secs(r)}",
    lambda r: f"slow query on {r.choice(_TABLES)} took {_ms(r)} rows={r.randint(0, 10**5)}",
    lambda r: (
        f"database connection to db-{r.randint(1, 9)}.internal:5432 lost, retrying in {r.randint(1, 30)}s"
    ),
    lambda r: (
        f"cache miss for key '{r.choice(_WORDS)}:{r.randint(1, 10**5)}' in region {r.choice(['eu', 'us', 'ap'])}"
    ),
    lambda r: f"sent email to {r.choice(_USERS)}@example.com template=welcome id={_hex(r, 16)}",
    lambda r: f"job {_uuid(r)} finished in {_secs(r)} with {r.randint(0, 500)} items",
    lambda r: (
        f"job {_uuid(r)} failed after {r.randint(1, 5)} attempts: timeout talking to {_ip(r)}:{r.randint(1024, 65535)}"
    ),
    lambda r: f"request_id={_hex(r, 16)} upstream {_ip(r)} answered 503 after {_ms(r)}",
    lambda r: f"Invalid token for session {_hex(r, 32)} issued at {_ts(r)}",
    lambda r: f"rate limit exceeded for api key {_hex(r, 24)} ({r.randint(100, 999)} req/min)",
    lambda r: (
        f'uploaded file "{r.choice(_WORDS)}-{r.randint(1, 999)}.pdf" ({r.randint(1, 9000)}KB) to s3://bucket{_path(r)}'
    ),
    lambda r: f"heap usage {r.randint(10, 99)}% after GC, pause {_ms(r)}",
    lambda r: f"Starting worker pid={r.randint(100, 65000)} threads={r.choice([4, 8, 16])}",
    lambda r: f"Shutting down: received signal {r.choice(['SIGTERM', 'SIGINT'])}",
    lambda r: f"config reloaded from /etc/app/{r.choice(['app', 'db', 'cache'])}.yaml in {_ms(r)}",
    lambda r: (
        f"failed to parse JSON body at line {r.randint(1, 99)} column {r.randint(1, 200)}: unexpected character"
    ),
    lambda r: f"user {r.choice(_USERS)} changed password from {_ip(r)}",
    lambda r: (
        f"webhook to https://hooks.example.com/{_hex(r, 10)} failed with status {r.choice([500, 502, 503])}"
    ),
    lambda r: (
        f"kafka consumer lag {r.randint(0, 10**6)} on partition {r.randint(0, 11)} of topic orders"
    ),
    lambda r: f"NullPointerException in OrderService.process at line {r.randint(1, 500)}",
    lambda r: f"retrying request to {_ip(r)} (attempt {r.randint(1, 5)} of 5) after {_ms(r)}",
    lambda r: (
        f"feature flag {r.choice(['new_checkout', 'dark_mode', 'beta_search'])} evaluated to {r.choice(['true', 'false'])} for user {r.randint(1, 10**6)}"
    ),
    lambda r: f"disk usage of /var/lib/app is {r.randint(50, 99)}% ({r.randint(1, 900)}GB used)",
    lambda r: f"scheduled backup {_uuid(r)} completed at {_ts(r)} size {r.randint(1, 999)}MB",
    lambda r: f"health check OK in {_ms(r)}",
    lambda r: f"TLS certificate for {_host(r)} expires in {r.randint(1, 90)} days",
]

# Near twins: the same shape, one word apart. Mined interleaved from the start they merge (as in
# Drain: nothing tells them from a variable word); a twin that turns up after the first has
# settled gets its own pattern (tests/unit/patterns/test_miner.py).
TWINS: list[Template] = [
    lambda r: f"connection {r.randint(1, 10**5)} to {_ip(r)} opened by {r.choice(_USERS)}",
    lambda r: f"connection {r.randint(1, 10**5)} to {_ip(r)} closed by {r.choice(_USERS)}",
    lambda r: f"lock {_hex(r, 8)} acquired by worker {r.randint(1, 64)} after {_ms(r)}",
    lambda r: f"lock {_hex(r, 8)} released by worker {r.randint(1, 64)} after {_ms(r)}",
]

TEMPLATES: list[tuple[str, Template]] = [("nginx", t) for t in NGINX] + [
    (f"app-{i % 3}", t) for i, t in enumerate(APP)
]


def corpus(n: int, seed: int = 17) -> list[tuple[str, str, int]]:
    """``n`` lines as (service, message, template index), template frequencies skewed."""
    r = random.Random(seed)
    weights = [1.0 / (1 + (i * 7) % len(TEMPLATES)) ** 0.8 for i in range(len(TEMPLATES))]
    picks = r.choices(range(len(TEMPLATES)), weights=weights, k=n)
    return [(TEMPLATES[i][0], TEMPLATES[i][1](r), i) for i in picks]
