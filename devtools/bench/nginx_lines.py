"""W3: raw nginx access lines, one per message, keyed by host (pure).

1,000 hosts serve 20 services (host ``h`` serves service ``h % 20``, the simulator's
:func:`~devtools.simulator.fleet.hosts_by_service`); every host logs one request each second of
event time, so ``count`` lines span ``count / 1,000`` s. Requests, status mix (about 93 % 2xx,
4 % 3xx, 3 % 4xx, 0.5 % 5xx) and latencies come from the simulator's seeded
:class:`~devtools.simulator.traffic.HostTraffic`; lines are nginx's ``combined`` format with
``$request_time $upstream_response_time`` (:func:`~devtools.simulator.wire.access_line`). A raw
line names no service, so Lookout files them all under the default service ``nginx``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from devtools.bench.workloads import HOSTS, Message, host_name, intervals_for
from devtools.simulator.entries import AppEntry
from devtools.simulator.fleet import (
    ServiceProfile,
    client_pool,
    hosts_by_service,
    service_names,
    service_profiles,
)
from devtools.simulator.traffic import AccessEntry, ErrorEntry, HostTraffic
from devtools.simulator.wire import access_line, app_json

SEED = 15
SERVICES = 20
LINES_PER_SECOND = HOSTS  # one line per host and second


def w3_seconds(count: int) -> int:
    """Whole seconds of event time (1,000 lines each) needed to send ``count`` lines."""
    return intervals_for(count, LINES_PER_SECOND)


def _hosts() -> tuple[tuple[ServiceProfile, ...], list[int], list[HostTraffic], list[bytes]]:
    """The simulated fleet of W3 and W3a: service profiles, each host's service, its traffic
    generator and its Kafka key."""
    profiles = service_profiles(service_names(SERVICES))
    service_of = [0] * HOSTS
    for s, members in enumerate(hosts_by_service(HOSTS, SERVICES)):
        for h in members:
            service_of[h] = s
    clients = client_pool(SEED)
    traffic = [HostTraffic(h, SEED, clients) for h in range(HOSTS)]
    return profiles, service_of, traffic, [host_name(h).encode() for h in range(HOSTS)]


def w3_messages(count: int, start: int) -> Iterator[Message]:
    """W3: one access line per message, keyed by host, second by second from ``start``."""
    profiles, service_of, traffic, keys = _hosts()
    access: list[AccessEntry] = []
    errors: list[ErrorEntry] = []
    for sec in range(start, start + w3_seconds(count)):
        for h in range(HOSTS):
            traffic[h].requests(sec, profiles[service_of[h]], 1.0, None, access, errors)
            for entry in access:
                yield Message(keys[h], access_line(entry), int(entry.time * 1000), 1, 0)
            access.clear()
            errors.clear()


def w3a_messages(count: int, start: int) -> Iterator[Message]:
    """W3a: one application log record (JSON) per message, keyed by host; mined by the worker.

    The records are the simulator's (:meth:`HostTraffic.app_logs`: request summaries, slow
    calls, errors with their dependency, ids and durations), 1,000 a second like W3.
    """
    names = service_names(SERVICES)
    profiles, service_of, traffic, keys = _hosts()
    access: list[AccessEntry] = []
    errors: list[ErrorEntry] = []
    made: list[AppEntry] = []
    pending: deque[tuple[int, AppEntry]] = deque()
    for sec in range(start, start + w3_seconds(count)):
        for h in range(HOSTS):
            profile = profiles[service_of[h]]
            traffic[h].requests(sec, profile, 1.0, None, access, errors)
            traffic[h].app_logs([sec], profile, access, made)  # at least one record
            pending.extend((h, e) for e in made)
            access.clear()
            errors.clear()
            made.clear()
            owner, e = pending.popleft()
            value = app_json(e, host_name(owner), names[e.service])
            yield Message(keys[owner], value, int(e.time * 1000), 1, 0)
