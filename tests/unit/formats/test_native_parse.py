"""The compiled Telegraf JSON parser (app/native.py compiles ``formats.telegraf_json``) parses
exactly as its Python source: the same metrics, times to the last bit, the same rejections."""

from __future__ import annotations

import os

from app import native
from tests.native_probe import run_probe

# Prints, for each payload, repr() of what decode_metrics gives (floats in repr are exact), and
# which build parsed it.
PROBE = r"""
import random
import orjson
import formats.telegraf_json
from app import native
from formats.decode import decode_metrics

rng = random.Random(11)
payloads = []
stamps = [0, 1, -1, 1_700_000_000, 1_700_000_000.5, 99_999_999_999, 100_000_000_000,
          1_700_000_000_123, 1_700_000_000_123_456, 1_700_000_000_123_456_789,
          2**53 + 1, 2**63 - 1, -(2**62), 1e300, float("1e17"), "2023-11-14T22:13:20.123456789Z",
          "2023-11-14T22:13:20+02:00", "nonsense", None, True, [1], {"a": 1}]
stamps += [rng.randrange(10**17, 10**19) for _ in range(300)]  # nanoseconds, every rounding
stamps += [rng.randrange(10**14, 10**17) for _ in range(100)]  # microseconds
stamps += [rng.uniform(1e9, 2e9) for _ in range(100)]
for stamp in stamps:
    body = {"name": "cpu", "tags": {"host": "h1", "cpu": "cpu-total"},
            "fields": {"usage_idle": rng.uniform(0, 100), "n": rng.randrange(-5, 5), "ok": True,
                       "s": "text"}}
    if stamp is not None:
        body["timestamp"] = stamp
    payloads.append(orjson.dumps(body))
payloads += [
    b'{"name":"m","fields":{"a":1},"tags":{"n":3,"b":false,"f":1.5},"timestamp":1700000000}',
    b'{"name":"m","fields":{"a":null},"timestamp":1700000000}',
    b'{"name":"","fields":{"a":1}}', b'{"name":"m","fields":{}}', b'{"name":"m","fields":[1]}',
    b'{"name":"m","fields":{"a":1},"tags":["x"]}',
    b'{"name":"m","fields":{"a":1},"tags":{"t":null}}',
    b'{"name":"m","fields":{"a":1e308,"b":-0.0,"c":123456789012345678901234567890}}',
    b'{"metrics":[{"name":"m","fields":{"a":1},"timestamp":1700000000123456789}]}',
    b'[{"name":"m","fields":{"a":1}}]', b'{"name":"m"', b'', b'  ', b'"x"',
    b'{"name":"m\\u001e","fields":{"a":1}}',
]
for unit in ("auto", "s", "ms", "us", "ns"):
    for payload in payloads:
        for host in (None, "k1"):
            print(repr(decode_metrics(payload, unit=unit, default_host=host)))
print(native.STATE, formats.telegraf_json.__file__)
"""


def _probe(native_on: bool) -> list[str]:
    return run_probe(PROBE, native_on=native_on, timeout=120).split("\n")


def test_compiled_and_python_telegraf_json_parse_alike() -> None:
    *python_out, python_build = _probe(native_on=False)
    *native_out, native_build = _probe(native_on=True)
    assert python_build.startswith("python") and python_build.endswith("telegraf_json.py")
    if os.environ.get(native.ENV) != "0":
        assert native_build.startswith("native") and native_build.endswith(".so")
    assert len(python_out) > 5_000
    assert native_out == python_out
