"""The simulated fleet: host and service names, which hosts serve which service (pure)."""

from __future__ import annotations

import random
from dataclasses import dataclass

SERVICE_NAMES = (
    "shop",
    "api",
    "auth",
    "search",
    "payments",
    "catalog",
    "cart",
    "users",
    "media",
    "reports",
)

# (verb, path template, weight, median response bytes); "{n}" becomes a number.
_ENDPOINTS: dict[str, tuple[tuple[str, str, int, int], ...]] = {
    "shop": (
        ("GET", "/", 4, 18_000),
        ("GET", "/products/{n}", 8, 24_000),
        ("GET", "/static/app.{n}.js", 3, 150_000),
        ("GET", "/cart", 3, 4_000),
        ("POST", "/cart/items", 2, 800),
        ("POST", "/checkout", 1, 1_200),
    ),
    "api": (
        ("GET", "/api/v1/items?page={n}", 6, 9_000),
        ("GET", "/api/v1/items/{n}", 8, 1_500),
        ("POST", "/api/v1/orders", 2, 700),
        ("PUT", "/api/v1/items/{n}", 1, 600),
        ("DELETE", "/api/v1/items/{n}", 1, 0),
    ),
    "auth": (
        ("POST", "/login", 4, 600),
        ("POST", "/oauth/token", 6, 1_100),
        ("GET", "/.well-known/jwks.json", 3, 2_300),
        ("POST", "/logout", 1, 0),
    ),
    "search": (
        ("GET", "/search?q=item{n}", 8, 32_000),
        ("GET", "/suggest?q=it{n}", 6, 900),
    ),
    "payments": (
        ("POST", "/v1/charges", 5, 1_400),
        ("GET", "/v1/charges/{n}", 3, 1_200),
        ("POST", "/v1/refunds", 1, 900),
    ),
}
_MEDIAN_LATENCY = {"shop": 0.080, "api": 0.045, "auth": 0.030, "search": 0.120, "payments": 0.200}
_DEPENDENCIES = {
    "shop": ("catalog-db", "payments"),
    "api": ("orders-db", "redis"),
    "auth": ("users-db", "redis"),
    "search": ("elasticsearch", "redis"),
    "payments": ("payments-db", "bank-gateway"),
}


@dataclass(frozen=True, slots=True)
class ServiceProfile:
    """A web service behind nginx: its virtual host, endpoints and typical latency."""

    index: int
    name: str
    vhost: str
    median_latency: float
    endpoints: tuple[tuple[str, str, int], ...]  # weighted: repeated by weight
    dependencies: tuple[str, ...]


def host_names(count: int) -> tuple[str, ...]:
    """``host-000``, ``host-001``, ... (at least three digits)."""
    width = max(3, len(str(count - 1)))
    return tuple(f"host-{i:0{width}d}" for i in range(count))


def service_names(count: int) -> tuple[str, ...]:
    """shop, api, auth, search, ... then ``svc-10``, ``svc-11``, ..."""
    return tuple(SERVICE_NAMES[i] if i < len(SERVICE_NAMES) else f"svc-{i}" for i in range(count))


def service_profiles(names: tuple[str, ...]) -> tuple[ServiceProfile, ...]:
    """Profiles for the named services; unknown names get a generic REST profile."""
    out = []
    for i, name in enumerate(names):
        endpoints = _ENDPOINTS.get(name) or (
            ("GET", f"/api/{name}/{{n}}", 6, 2_000),
            ("GET", f"/api/{name}?page={{n}}", 3, 12_000),
            ("POST", f"/api/{name}", 1, 500),
        )
        weighted = tuple(
            (verb, path, size) for verb, path, weight, size in endpoints for _ in range(weight)
        )
        out.append(
            ServiceProfile(
                index=i,
                name=name,
                vhost=f"{name}.example.com",
                median_latency=_MEDIAN_LATENCY.get(name, 0.060),
                endpoints=weighted,
                dependencies=_DEPENDENCIES.get(name, (f"{name}-db", "redis")),
            )
        )
    return tuple(out)


def hosts_by_service(hosts: int, services: int) -> tuple[tuple[int, ...], ...]:
    """Host indices serving each service: host ``h`` serves service ``h % services``.

    With fewer hosts than services, host ``h`` serves every service ``s`` with
    ``s % hosts == h``, so each service has at least one host.
    """
    if hosts >= services:
        return tuple(tuple(h for h in range(hosts) if h % services == s) for s in range(services))
    return tuple((s % hosts,) for s in range(services))


def services_by_host(
    serving: tuple[tuple[int, ...], ...], hosts: int
) -> tuple[tuple[int, ...], ...]:
    """Invert :func:`hosts_by_service`: the service indices each host serves."""
    out: list[list[int]] = [[] for _ in range(hosts)]
    for s, members in enumerate(serving):
        for h in members:
            out[h].append(s)
    return tuple(tuple(x) for x in out)


def client_pool(seed: int, size: int = 512) -> tuple[str, ...]:
    """Deterministic public-looking client addresses."""
    rng = random.Random(f"{seed}/clients")
    firsts = (31, 46, 77, 81, 93, 109, 151, 185, 188, 203)
    return tuple(
        f"{rng.choice(firsts)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        for _ in range(size)
    )
