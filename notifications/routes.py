"""The route tree (Alertmanager semantics) and group keys (pure).

The root route matches every alert (the default route); a child matches when all its
``match`` / ``match_re`` matchers hold; the first matching child wins unless it says
``continue: true`` (then later siblings are tried too); a matching child *replaces* its parent,
and a route none of whose children match is the answer itself. Children inherit ``receiver``,
``group_by``, the timings, ``send_resolved`` and ``catch_up`` from their parent (:func:`build`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from alerting.labels import Matcher, matches_all
from notifications.reasons import CatchUp, Reason

ALL_LABELS = "..."


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A route as written: ``None`` inherits the parent's value."""

    receiver: str | None = None
    group_by: tuple[str, ...] | None = None
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    send_resolved: bool | None = None
    catch_up: CatchUp | None = None
    match: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[RouteSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """A route with every value resolved; ``path`` names it in the document."""

    receiver: str
    group_by: tuple[str, ...] = ()
    group_wait: float = 30.0
    group_interval: float = 300.0
    repeat_interval: float = 4 * 3600.0
    send_resolved: bool = True
    catch_up: CatchUp = CatchUp.NOTIFY
    match: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()
    path: str = "route"

    def walk(self) -> Iterable[Route]:
        """This route and every route below it, depth first."""
        yield self
        for child in self.routes:
            yield from child.walk()


ROOT_DEFAULTS = Route(receiver="")


def build(spec: RouteSpec, parent: Route | None = None, path: str = "route") -> Route:
    """Resolve inheritance: each unset value comes from the parent (the root's from defaults)."""
    base = parent or ROOT_DEFAULTS
    receiver = spec.receiver if spec.receiver is not None else base.receiver
    if not receiver:
        raise ValueError(f"{path}.receiver: required on the root route")
    node = Route(
        receiver=receiver,
        group_by=spec.group_by if spec.group_by is not None else base.group_by,
        group_wait=_pick(spec.group_wait, base.group_wait),
        group_interval=_pick(spec.group_interval, base.group_interval),
        repeat_interval=_pick(spec.repeat_interval, base.repeat_interval),
        send_resolved=spec.send_resolved if spec.send_resolved is not None else base.send_resolved,
        catch_up=spec.catch_up if spec.catch_up is not None else base.catch_up,
        match=spec.match,
        continue_=spec.continue_,
        path=path,
    )
    children = tuple(
        build(child, node, f"{path}.routes[{i}]") for i, child in enumerate(spec.routes)
    )
    return replace(node, routes=children)


def _pick(value: float | None, inherited: float) -> float:
    return inherited if value is None else value


@dataclass(frozen=True, slots=True)
class Routing:
    """The routes an alert goes to, and why."""

    routes: tuple[Route, ...]
    reason: Reason
    detail: str


def route(root: Route, labels: Mapping[str, str]) -> Routing:
    """The routes of an alert with match ``labels`` (the root if no child matches)."""
    found = _descend(root, labels)
    if found == [root]:
        return Routing((root,), Reason.DEFAULT_ROUTE, f"no route matched: {root.path}")
    return Routing(tuple(found), Reason.MATCHED_ROUTE, ", ".join(r.path for r in found))


def _descend(node: Route, labels: Mapping[str, str]) -> list[Route]:
    found: list[Route] = []
    for child in node.routes:
        if matches_all(child.match, labels):
            found.extend(_descend(child, labels))
            if not child.continue_:
                break
    return found or [node]


def group_labels(r: Route, labels: Mapping[str, str]) -> dict[str, str]:
    """The labels that make an alert's group on route ``r`` (absent labels are left out)."""
    if ALL_LABELS in r.group_by:
        return {k: labels[k] for k in sorted(labels)}
    return {k: labels[k] for k in r.group_by if k in labels}


def group_key(r: Route, labels: Mapping[str, str]) -> str:
    """``receiver|label=value,...`` (in ``group_by`` order)."""
    values = group_labels(r, labels)
    return f"{r.receiver}|" + ",".join(f"{k}={v}" for k, v in values.items())
