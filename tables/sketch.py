"""A mergeable quantile sketch with bounded relative error (DDSketch-style log buckets).

Accuracy: with ``alpha`` (default 0.01), ``quantile(q)`` returns a value ``x`` with
``|x - v| <= alpha * |v|`` where ``v`` is the exact lower quantile of the values added: the
element of zero-based rank ``floor(q * (n - 1))`` in sorted order (numpy's ``method="lower"``).
Magnitudes up to ``min_value`` (default 1e-9) are counted as zero, so for them the error is
absolute and at most ``min_value``. Floating-point rounding can exceed the bound by ~1e-12
relative. The bound holds as long as the sketch has not collapsed (see below).

Buckets: a positive value ``v`` goes to bucket ``ceil(log(v) / log(gamma))`` with
``gamma = (1 + alpha) / (1 - alpha)``; a negative one to the same index of ``-v`` in a separate
store; near-zero values to a zero count. Bucket ``k`` covers ``(gamma**(k-1), gamma**k]`` and
is reported as ``2 * gamma**k / (1 + gamma)``.

Collapsing: when the positive and negative stores together hold more than ``max_buckets``
(default 2048) buckets, the lowest buckets in value order are folded into the lowest kept one
(the floor), and from then on every value below the floor (zeros too, when the floor is
positive) lands in it. The bound then holds only for upper quantiles, those whose exact value is
at or above the floor. With the defaults 2048 buckets span a factor of about 6e17, so this only
happens to pathological data. The result is a function of the multiset of values alone, so
merging stays exact and order-independent after collapsing too.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from math import ceil, exp, floor, inf, log
from typing import Any, Self

DEFAULT_ALPHA = 0.01
DEFAULT_MAX_BUCKETS = 2048
DEFAULT_MIN_VALUE = 1e-9

_NO_POS_FLOOR = -(1 << 62)
_NO_NEG_CEILING = 1 << 62


class QuantileSketch:
    """A log-bucket quantile sketch: add, merge, quantile, and a compact JSON-ready state."""

    __slots__ = (
        "_log_gamma",
        "_log_rep",
        "_mult",
        "_neg",
        "_neg_ceiling",
        "_pos",
        "_pos_floor",
        "alpha",
        "max_buckets",
        "min_value",
        "zero",
    )

    def __init__(
        self,
        alpha: float = DEFAULT_ALPHA,
        *,
        max_buckets: int = DEFAULT_MAX_BUCKETS,
        min_value: float = DEFAULT_MIN_VALUE,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"QuantileSketch alpha must be in (0, 1), got {alpha!r}")
        if max_buckets < 1:
            raise ValueError(f"QuantileSketch max_buckets must be >= 1, got {max_buckets!r}")
        if not min_value > 0.0:
            raise ValueError(f"QuantileSketch min_value must be > 0, got {min_value!r}")
        self.alpha = alpha
        self.max_buckets = max_buckets
        self.min_value = min_value
        gamma = (1.0 + alpha) / (1.0 - alpha)
        self._log_gamma = log(gamma)
        self._mult = 1.0 / self._log_gamma
        self._log_rep = log(2.0 / (1.0 + gamma))
        self.zero = 0
        self._pos: dict[int, int] = {}
        self._neg: dict[int, int] = {}
        # Collapse markers: positive keys below _pos_floor and negative keys above
        # _neg_ceiling do not get their own bucket (see _add_slow).
        self._pos_floor = _NO_POS_FLOOR
        self._neg_ceiling = _NO_NEG_CEILING

    def add(self, value: float) -> None:
        """Count one value; raises ValueError for NaN or infinities."""
        if value > self.min_value:
            try:
                k = ceil(log(value) * self._mult)
            except OverflowError:
                raise ValueError(f"QuantileSketch cannot add {value!r}") from None
            if k < self._pos_floor:
                k = self._pos_floor
            store = self._pos
        elif value < -self.min_value:
            try:
                k = ceil(log(-value) * self._mult)
            except OverflowError:
                raise ValueError(f"QuantileSketch cannot add {value!r}") from None
            if k > self._neg_ceiling:
                self._add_slow(k)
                return
            store = self._neg
        elif value == value:  # false only for NaN
            if self._pos_floor == _NO_POS_FLOOR:
                self.zero += 1
            else:
                self._pos[self._pos_floor] += 1
            return
        else:
            raise ValueError("QuantileSketch cannot add NaN")
        c = store.get(k)
        if c is None:
            store[k] = 1
            if len(self._pos) + len(self._neg) > self.max_buckets:
                self._collapse()
        else:
            store[k] = c + 1

    def _add_slow(self, k: int) -> None:
        """Add a negative value whose bucket lies below the floor."""
        if self._pos_floor != _NO_POS_FLOOR:
            self._pos[self._pos_floor] += 1
        else:
            self._neg[self._neg_ceiling] += 1

    @property
    def count(self) -> int:
        """The number of values added."""
        return self.zero + sum(self._pos.values()) + sum(self._neg.values())

    @property
    def collapsed(self) -> bool:
        """True once buckets were folded to respect max_buckets."""
        return self._floor() is not None

    def merge(self, other: QuantileSketch) -> Self:
        """Add all of ``other`` into this sketch (in place) and return self."""
        if (other.alpha, other.min_value, other.max_buckets) != (
            self.alpha,
            self.min_value,
            self.max_buckets,
        ):
            raise ValueError(
                "cannot merge QuantileSketch with different parameters: "
                f"alpha/min_value/max_buckets {self.alpha}/{self.min_value}/{self.max_buckets}"
                f" vs {other.alpha}/{other.min_value}/{other.max_buckets}"
            )
        self._add_stores(other)
        floors = [f for f in (self._floor(), other._floor()) if f is not None]
        if floors:
            self._apply_floor(*max(floors))
        self._collapse()
        return self

    def _add_stores(self, other: QuantileSketch) -> None:
        """Add ``other``'s bucket counts and zeros to self's (no floors, no collapse)."""
        pos, neg = self._pos, self._neg
        for k, c in other._pos.items():
            pos[k] = pos.get(k, 0) + c
        for k, c in other._neg.items():
            neg[k] = neg.get(k, 0) + c
        self.zero += other.zero

    @classmethod
    def merged(cls, sketches: Sequence[QuantileSketch]) -> QuantileSketch:
        """A new sketch equal to copying ``sketches[0]`` and merging the others into it.

        In the usual case (same parameters, none collapsed, no more buckets in all than
        ``max_buckets``, so no merge would collapse or check anything) the stores are only
        summed; any other case merges part by part.
        """
        first = sketches[0]
        plain = sum(len(s._pos) + len(s._neg) for s in sketches) <= first.max_buckets and all(
            s.alpha == first.alpha
            and s.min_value == first.min_value
            and s.max_buckets == first.max_buckets
            and s._floor() is None
            for s in sketches
        )
        out = first.copy()
        for s in sketches[1:]:
            if plain:
                out._add_stores(s)
            else:
                out.merge(s)
        return out

    def copy(self) -> QuantileSketch:
        """An independent copy."""
        new = QuantileSketch(self.alpha, max_buckets=self.max_buckets, min_value=self.min_value)
        new.zero, new._pos, new._neg = self.zero, dict(self._pos), dict(self._neg)
        new._pos_floor, new._neg_ceiling = self._pos_floor, self._neg_ceiling
        return new

    def quantile(self, q: float) -> float | None:
        """The estimated lower q-quantile (see the module docstring), None when empty."""
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Several quantiles at once (one sort of each store)."""
        for q in qs:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"quantile must be in [0, 1], got {q!r}")
        neg, pos = self._neg, self._pos
        neg_keys = sorted(neg, reverse=True)  # most negative value first
        neg_cum = list(accumulate(map(neg.__getitem__, neg_keys)))
        pos_keys = sorted(pos)
        pos_cum = list(accumulate(map(pos.__getitem__, pos_keys)))
        below_zero = neg_cum[-1] if neg_cum else 0
        below_pos = below_zero + self.zero
        n = below_pos + (pos_cum[-1] if pos_cum else 0)
        if n == 0:
            return [None] * len(qs)
        lg, lr = self._log_gamma, self._log_rep
        out: list[float | None] = []
        for q in qs:
            rank = floor(q * (n - 1))
            if rank < below_zero:
                out.append(-exp(neg_keys[bisect_right(neg_cum, rank)] * lg + lr))
            elif rank < below_pos:
                out.append(0.0)
            else:
                out.append(exp(pos_keys[bisect_right(pos_cum, rank - below_pos)] * lg + lr))
        return out

    def _floor(self) -> tuple[int, int] | None:
        """The floor bucket's position in value order: (1, k) positive, (-1, -k) negative."""
        if self._pos_floor != _NO_POS_FLOOR:
            return (1, self._pos_floor)
        if self._neg_ceiling != _NO_NEG_CEILING:
            return (-1, -self._neg_ceiling)
        return None

    def _collapse(self) -> None:
        """Fold the lowest buckets until at most max_buckets remain."""
        excess = len(self._pos) + len(self._neg) - self.max_buckets
        if excess > 0:
            order = sorted([(-1, -k) for k in self._neg] + [(1, k) for k in self._pos])
            self._apply_floor(*order[excess])

    def _apply_floor(self, side: int, key: int) -> None:
        """Fold every bucket below position (side, key) into it and route new ones there."""
        pos, neg = self._pos, self._neg
        if side > 0:
            low = [k for k in pos if k < key]
            moved = self.zero + sum(neg.values()) + sum(pos.pop(k) for k in low)
            self.zero = 0
            neg.clear()
            pos[key] = pos.get(key, 0) + moved
            self._pos_floor = key
            self._neg_ceiling = -_NO_NEG_CEILING
        else:
            k_floor = -key
            low = [k for k in neg if k > k_floor]
            neg[k_floor] = neg.get(k_floor, 0) + sum(neg.pop(k) for k in low)
            self._neg_ceiling = k_floor

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return (
            self.alpha == other.alpha
            and self.min_value == other.min_value
            and self.max_buckets == other.max_buckets
            and self.zero == other.zero
            and self._pos == other._pos
            and self._neg == other._neg
            and self._floor() == other._floor()
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"QuantileSketch(alpha={self.alpha}, count={self.count}, state={self.to_state()})"

    def to_state(self) -> list[Any]:
        """``[alpha, zero, pos, neg]`` plus ``[min_value, max_buckets, collapsed]`` if needed.

        A store is ``[first_key, count, count, -gap, count, ...]`` over ascending keys: a
        negative entry ``-g`` skips ``g`` empty buckets; an empty store is ``[]``.
        """
        state: list[Any] = [self.alpha, self.zero, _encode(self._pos), _encode(self._neg)]
        collapsed = self.collapsed
        if (
            collapsed
            or self.min_value != DEFAULT_MIN_VALUE
            or self.max_buckets != DEFAULT_MAX_BUCKETS
        ):
            state += [self.min_value, self.max_buckets, int(collapsed)]
        return state

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> QuantileSketch:
        """Rebuild a sketch from ``to_state()`` output."""
        try:
            alpha, zero, pos, neg, *rest = state
            min_value, max_buckets, collapsed = rest or (DEFAULT_MIN_VALUE, DEFAULT_MAX_BUCKETS, 0)
            sketch = cls(alpha, max_buckets=max_buckets, min_value=min_value)
            sketch.zero = int(zero)
            sketch._pos = _decode(pos)
            sketch._neg = _decode(neg)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"bad QuantileSketch state {state!r}: {exc}") from None
        if collapsed:
            lowest = min([(-1, -k) for k in sketch._neg] + [(1, k) for k in sketch._pos])
            sketch._apply_floor(*lowest)
        return sketch


def _encode(store: dict[int, int]) -> list[int]:
    """Run-length encode a store: first key, then counts, with -gap for empty runs."""
    if not store:
        return []
    keys = sorted(store)
    out = [keys[0]]
    prev = keys[0] - 1
    for k in keys:
        if k - prev > 1:
            out.append(prev + 1 - k)
        out.append(store[k])
        prev = k
    return out


def _decode(encoded: Sequence[int]) -> dict[int, int]:
    """Inverse of _encode."""
    store: dict[int, int] = {}
    if not encoded:
        return store
    k = int(encoded[0])
    for x in encoded[1:]:
        if x < 0:
            k -= x
        elif x > 0:
            store[k] = int(x)
            k += 1
        else:
            raise ValueError("a store count of 0")
    return store


#: Values a :class:`Values` keeps as they are before it moves them into a sketch.
RAW_MAX = 32


def exact_quantiles(values: Sequence[float], qs: Sequence[float]) -> list[float | None]:
    """Lower rank-based quantiles (element of rank ``floor(q * (n - 1))``), None when empty."""
    if not values:
        return [None] * len(qs)
    ordered = sorted(values)
    n1 = len(ordered) - 1
    return [ordered[floor(q * n1)] for q in qs]


class Values:
    """Values for percentiles: kept as they are (exact) up to ``RAW_MAX``, then a sketch.

    Which form holds depends only on the multiset of values added or merged (a sketch is a
    function of it), so merging stays order-independent.
    """

    __slots__ = ("alpha", "sketch", "vals")

    def __init__(self, alpha: float = DEFAULT_ALPHA) -> None:
        self.alpha = alpha
        self.vals: list[float] | None = []  # None once the values went into ``sketch``
        self.sketch: QuantileSketch | None = None

    def to_sketch(self) -> QuantileSketch:
        """The values as a sketch (from now on kept in it)."""
        if self.sketch is None:
            sketch = QuantileSketch(self.alpha)
            for v in self.vals or ():
                sketch.add(v)
            self.sketch, self.vals = sketch, None
        return self.sketch

    def add(self, value: float) -> None:
        """Add one value; raises ValueError for NaN or infinities."""
        vals = self.vals
        if vals is None:
            self.sketch.add(value)  # type: ignore[union-attr]
            return
        if not -inf < value < inf:
            raise ValueError(f"cannot add {value!r} to Values")
        vals.append(value)
        if len(vals) > RAW_MAX:
            self.to_sketch()

    def merge(self, other: Values) -> Values:
        """Add all of ``other`` (in place) and return self."""
        if other.alpha != self.alpha:
            raise ValueError(f"cannot merge Values of alpha {other.alpha} into {self.alpha}")
        mine, theirs = self.vals, other.vals
        if mine is not None and theirs is not None and len(mine) + len(theirs) <= RAW_MAX:
            mine.extend(theirs)
        elif theirs is None:
            self.to_sketch().merge(other.sketch)  # type: ignore[arg-type]
        else:
            sketch = self.to_sketch()
            for v in theirs:
                sketch.add(v)
        return self

    def copy(self) -> Values:
        """An independent copy."""
        new = Values(self.alpha)  # a plain constructor (native build)
        new.vals = None if self.vals is None else self.vals.copy()
        new.sketch = None if self.sketch is None else self.sketch.copy()
        return new

    def quantiles(self, qs: Sequence[float]) -> list[float | None]:
        """Exact lower quantiles while the values are kept, else the sketch's estimates."""
        if self.vals is not None:
            return exact_quantiles(self.vals, qs)
        return self.sketch.quantiles(qs)  # type: ignore[union-attr]

    def quantile(self, q: float) -> float | None:
        """One quantile (see :meth:`quantiles`)."""
        return self.quantiles((q,))[0]

    def to_state(self) -> list[Any]:
        """``[None, alpha, values]`` while kept, else the sketch's state (``[alpha, ...]``)."""
        if self.vals is not None:
            return [None, self.alpha, self.vals]
        return self.sketch.to_state()  # type: ignore[union-attr]

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> Values:
        """Rebuild from :meth:`to_state` output, or from a bare sketch's state."""
        new = cls()  # every field is set below
        if state and state[0] is None:
            new.alpha, new.vals, new.sketch = float(state[1]), [float(v) for v in state[2]], None
        else:
            new.sketch = QuantileSketch.from_state(state)
            new.alpha, new.vals = new.sketch.alpha, None
        return new
