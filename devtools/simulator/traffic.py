"""Web traffic on one host: nginx access and error log entries, application logs (pure).

Status mix in steady state: about 93% 2xx, 4% 3xx, 3% 4xx, 0.5% 5xx; latency is lognormal
around the service's median. An error spike raises the 5xx share (mostly 502 from refused
connections and 504 from upstream timeouts, each with its nginx error-log line) and multiplies
latency. nginx's ``proxy_read_timeout`` is taken as 10 s, so a 504 takes about 10 s.
"""

from __future__ import annotations

import math
import random

from devtools.simulator.entries import AccessEntry, AppEntry, ErrorEntry
from devtools.simulator.fleet import ServiceProfile
from devtools.simulator.scenarios import Scenario
from devtools.simulator.wire import nginx_error_time

UPSTREAM_TIMEOUT = 10.0
_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "curl/8.5.0",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "kube-probe/1.29",
)
# Codes repeated by weight, picked uniformly.
_CODES_3XX = (304,) * 12 + (302,) * 5 + (301,) * 3
_CODES_4XX = (404,) * 12 + (400,) * 3 + (401,) * 2 + (403,) * 2 + (429,)
_CODES_5XX = (500,) * 10 + (502,) * 5 + (503,) * 3 + (504,) * 2
_CODES_5XX_SPIKE = (502,) * 9 + (504,) * 9 + (500,) + (503,)
_SHARE_5XX, _SHARE_4XX, _SHARE_3XX = 0.005, 0.03, 0.04
_REFUSED = "connect() failed (111: Connection refused) while connecting to upstream"
_TIMED_OUT = (
    "upstream timed out (110: Connection timed out) while reading response header from upstream"
)


class HostTraffic:
    """nginx and application log streams of one host, each from its own random stream."""

    def __init__(self, index: int, seed: int, clients: tuple[str, ...]) -> None:
        self._rng = random.Random(f"{seed}/nginx/{index}")
        self._app = random.Random(f"{seed}/app/{index}")
        self._clients = clients
        self._index = index
        self._pid = 1_000 + self._rng.randrange(30_000)
        self._conn = self._rng.randrange(1, 100_000)

    def upstream(self, service: ServiceProfile) -> str:
        """The upstream this host's nginx proxies ``service`` to."""
        return f"10.{20 + service.index % 200}.{self._index // 250}.{self._index % 250 + 1}:8080"

    def requests(
        self,
        sec: int,
        service: ServiceProfile,
        per_second: float,
        spike: Scenario | None,
        access: list[AccessEntry],
        errors: list[ErrorEntry],
    ) -> None:
        """Append about ``per_second`` requests logged during second ``sec``."""
        rng = self._rng
        rand = rng.random
        gauss = rng.gauss
        n = int(per_second)
        if rand() < per_second - n:
            n += 1
        if spike is None:
            p5, codes5, slow = _SHARE_5XX, _CODES_5XX, 1.0
        else:
            p5, codes5, slow = spike.share, _CODES_5XX_SPIKE, spike.latency
        p4 = p5 + _SHARE_4XX * (1.0 - p5)
        p3 = p4 + _SHARE_3XX * (1.0 - p5)
        mu = math.log(service.median_latency * slow)
        endpoints = service.endpoints
        clients = self._clients
        for _ in range(n):
            verb, path, size = endpoints[int(rand() * len(endpoints))]
            if "{n}" in path:
                path = path.replace("{n}", str(1 + int(rand() * 9_999)))
            u = rand()
            rt = math.exp(mu + 0.5 * gauss(0.0, 1.0))
            ut = rt * 0.97
            if u < p5:
                status = codes5[int(rand() * len(codes5))]
                size = 150 + int(rand() * 400)
                if status == 504:
                    rt = UPSTREAM_TIMEOUT + rand() * 0.01
                    ut = UPSTREAM_TIMEOUT
                elif status == 502:
                    rt = 0.001 + rand() * 0.004
                    ut = 0.0
            elif u < p4:
                status = _CODES_4XX[int(rand() * len(_CODES_4XX))]
                size = 150 + int(rand() * 400)
                rt, ut = rt * 0.2, ut * 0.2
            elif u < p3:
                status = _CODES_3XX[int(rand() * len(_CODES_3XX))]
                size = 0 if status == 304 else 169
            else:
                status = (
                    201 if verb == "POST" and rand() < 0.3 else 204 if verb == "DELETE" else 200
                )
                size = 0 if status == 204 else int(size * math.exp(0.6 * gauss(0.0, 1.0)))
            client = clients[int(rand() * len(clients))]
            entry = AccessEntry(
                sec + rand(),
                service.index,
                client,
                verb,
                path,
                status,
                size,
                "-" if rand() < 0.7 else f"https://{service.vhost}/",
                _AGENTS[int(rand() * len(_AGENTS))],
                round(max(rt, 0.001), 3),
                round(ut, 3),
            )
            access.append(entry)
            if status == 502 or status == 504:
                message = _REFUSED if status == 502 else _TIMED_OUT
                errors.append(self._error(entry, service, "error", message, upstream=True))

    def background_errors(
        self, seconds: list[int], service: ServiceProfile, errors: list[ErrorEntry]
    ) -> None:
        """Now and then, an everyday error-log line during one of ``seconds``."""
        rng = self._rng
        if not seconds or rng.random() >= 0.15:
            return
        sec = seconds[int(rng.random() * len(seconds))]
        client = self._clients[int(rng.random() * len(self._clients))]
        kind = int(rng.random() * 3)
        if kind == 0:
            req = AccessEntry(
                sec + rng.random(),
                service.index,
                client,
                "GET",
                "/favicon.ico",
                404,
                0,
                "-",
                "-",
                0.0,
                0.0,
            )
            message = (
                'open() "/usr/share/nginx/html/favicon.ico" failed (2: No such file or directory)'
            )
            errors.append(self._error(req, service, "error", message, upstream=False))
        elif kind == 1:
            verb, path, _ = service.endpoints[0]
            path = path.replace("{n}", str(1 + int(rng.random() * 9_999)))
            req = AccessEntry(
                sec + rng.random(), service.index, client, verb, path, 200, 0, "-", "-", 0.0, 0.0
            )
            n = rng.randrange(1, 2_000)
            message = (
                "an upstream response is buffered to a temporary file "
                f"/var/cache/nginx/proxy_temp/{n % 10}/{n % 100:02d}/{n:010d} "
                "while reading upstream"
            )
            errors.append(self._error(req, service, "warn", message, upstream=True))
        else:
            req = AccessEntry(
                sec + rng.random(),
                service.index,
                client,
                "POST",
                "/upload",
                413,
                0,
                "-",
                "-",
                0.0,
                0.0,
            )
            message = (
                f"client intended to send too large body: {rng.randrange(2, 50) * 1_048_576} bytes"
            )
            errors.append(self._error(req, service, "error", message, upstream=False))

    def _error(
        self, req: AccessEntry, service: ServiceProfile, level: str, message: str, *, upstream: bool
    ) -> ErrorEntry:
        self._conn += 1
        sec = int(req.time)
        line = (
            f"{nginx_error_time(sec)} [{level}] {self._pid}#{self._pid}: *{self._conn} {message}, "
            f"client: {req.client_ip}, server: {service.vhost}, "
            f'request: "{req.verb} {req.request} HTTP/1.1"'
        )
        if upstream:
            line += f', upstream: "http://{self.upstream(service)}{req.request}"'
        line += f', host: "{service.vhost}"'
        return ErrorEntry(req.time, service.index, line)

    def app_logs(
        self,
        seconds: list[int],
        service: ServiceProfile,
        access: list[AccessEntry],
        out: list[AppEntry],
    ) -> None:
        """Application logs of ``service`` for one interval: a little info, errors for 5xx."""
        if not seconds:
            return
        rng = self._app
        rand = rng.random
        deps = service.dependencies
        for _ in range(1 + (rand() < 0.5)):
            sec = seconds[int(rand() * len(seconds))]
            if access:
                e = access[int(rand() * len(access))]
                message = f"{e.verb} {e.request} -> {e.status} in {int(e.request_time * 1000)} ms"
            else:
                message = "health check ok"
            out.append(
                AppEntry(
                    sec + int(rand() * 1000) / 1000,
                    service.index,
                    "info",
                    message,
                    f"{rng.getrandbits(128):032x}",
                )
            )
        if rand() < 0.15:
            sec = seconds[int(rand() * len(seconds))]
            dep = deps[int(rand() * len(deps))]
            message = f"slow call to {dep}: {200 + int(rand() * 1800)} ms"
            out.append(
                AppEntry(
                    sec + int(rand() * 1000) / 1000,
                    service.index,
                    "warning",
                    message,
                    f"{rng.getrandbits(128):032x}",
                )
            )
        for e in access:
            if e.status < 500 or rand() >= 0.5:
                continue
            dep = deps[int(rand() * len(deps))]
            if e.status == 504:
                message = f"timeout calling {dep} after {int(UPSTREAM_TIMEOUT * 1000)} ms"
            elif e.status == 502:
                message = f"connection refused by {dep}"
            elif e.status == 503:
                message = f"{dep} unavailable: circuit breaker open"
            else:
                message = f"unhandled exception in {e.verb} {e.request}: KeyError('id')"
            out.append(
                AppEntry(
                    int(e.time * 1000) / 1000,
                    service.index,
                    "error",
                    message,
                    f"{rng.getrandbits(128):032x}",
                )
            )
