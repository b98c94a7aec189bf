"""The native window core (app/native.py): used when built and current, never when stale, and
writing exactly what the Python sources write."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import tables.engine
from app import native
from tests.native_probe import run_probe

# Runs W1f metrics and W3 access lines through a broker-less worker and prints a digest of
# every final window record (without its wall-clock closed_at) and every pane and host state.
PROBE = r"""
import asyncio, hashlib, math, random, time
import orjson
from devtools.bench.telegraf_inputs import host_sample
from devtools.simulator.machines import HostMetrics
from devtools.simulator.wire import telegraf_json
from devtools.bench.memory import memory_worker
import tables.engine, app.native

T0 = 1_700_000_000
rng = random.Random(7)

async def main():
    lk, out, source, fetcher = memory_worker({"LOOKOUT_APP_ID": "native-probe"}, batch_max=300)
    lk.store._recovered()
    machines = [HostMetrics(f"h{h}", h, 15, float(T0), 10) for h in range(6)]
    for i in range(70):  # 700 s: tumbling and hopping windows close, late records come in
        metrics, lines = [], []
        ts = T0 + 10 * i
        for h, machine in enumerate(machines):
            for m in host_sample(machine, h, i, ts):
                metrics.append((f"h{h}".encode(), telegraf_json(m)))
            edge = (ts // 60) * 60  # a pane boundary: one ulp either side of it
            for t in (math.nextafter(edge, -math.inf), float(edge), math.nextafter(edge, math.inf)):
                body = {"name": "edge", "tags": {"host": f"h{h}"}, "fields": {"v": t % 7}}
                metrics.append((f"h{h}".encode(), orjson.dumps({**body, "timestamp": t})))
            for k in range(rng.randint(0, 4)):
                t = ts + rng.random() * 10 - (45 if rng.random() < 0.05 else 0)
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(t))
                status = rng.choice([200, 200, 200, 201, 301, 404, 500, 503])
                line = (f'10.0.{h}.{k} - - [{stamp}] "GET /api/{k} HTTP/1.1" {status} '
                        f'{rng.randint(0, 9000)} "-" "probe" {rng.random():.3f}')
                lines.append((f"h{h}".encode(), line.encode()))
        rng.shuffle(metrics)  # hosts interleaved differently every interval
        for key, value in metrics:
            source.put(lk.topics.metrics, value, key)
        for key, value in lines:
            source.put(lk.topics.logs_nginx, value, key)
        while await fetcher.fetch_once():  # both topics move on together
            pass
    h = hashlib.sha256()
    finals = 0
    for key, body, partition in out.windows:
        record = orjson.loads(body)
        del record["closed_at"]
        h.update(key + orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + bytes([partition]))
        finals += 1
    states = 0
    for partition, key, value in out.changelogs:
        if key[:2] in (b"p|", b"h|"):
            h.update(key + (value or b"-") + bytes([partition]))
            states += 1
    found = (app.native.STATE, tables.engine.__file__, finals, states, h.hexdigest())
    print("|".join(map(str, found)))

asyncio.run(main())
"""


def _probe(native_on: bool) -> list[str]:
    return run_probe(PROBE, native_on=native_on).split("|")


def test_the_tests_run_the_native_core_when_it_is_built() -> None:
    """``make test`` builds the core first, so the suite exercises what workers run; a run
    with LOOKOUT_NATIVE=0 is a deliberate pure-Python run."""
    if os.environ.get(native.ENV) == "0":
        assert native.STATE == "python (LOOKOUT_NATIVE=0)"
        return
    assert native.STATE == "native", f"{native.STATE} (make native builds it)"
    assert tables.engine.__file__ is not None
    assert tables.engine.__file__.endswith(".so")


def test_native_and_python_cores_write_the_same_windows_and_states() -> None:
    python_state, python_file, *python_out = _probe(native_on=False)
    native_state, native_file, *native_out = _probe(native_on=True)
    assert python_state.startswith("python") and python_file.endswith("engine.py")
    if os.environ.get(native.ENV) != "0":
        assert native_state == "native" and native_file.endswith(".so")
    finals, states, _digest = python_out
    assert int(finals) > 1_000 and int(states) > 100  # windows closed, states written
    assert native_out == python_out


def _copy_sources(root: Path) -> None:
    for module in native.MODULES:
        target = native.source_path(module, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(native.source_path(module), target)


def _manifest(root: Path, digest: str, files: dict[str, str]) -> None:
    folder = native.build_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"modules": list(native.MODULES), "digest": digest, "files": files}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_missing_stale_or_incomplete_build_is_never_loaded(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    files, state = native.check(tmp_path, env={})
    assert files == {} and "no native build" in state and "make native" in state
    assert native.check(tmp_path, env={"LOOKOUT_NATIVE": "0"}) == ({}, "python (LOOKOUT_NATIVE=0)")

    so = {"tables.engine": "tables/engine.so"}
    _manifest(tmp_path, native.source_digest(root=tmp_path), so)
    files, state = native.check(tmp_path, env={})
    assert files == {} and "incomplete" in state
    (native.build_dir(tmp_path) / "tables").mkdir()
    (native.build_dir(tmp_path) / "tables" / "engine.so").write_bytes(b"")
    files, state = native.check(tmp_path, env={})
    assert state == "native" and files == {"tables.engine": native.build_dir(tmp_path) / so[
        "tables.engine"]}  # fmt: skip

    engine = native.source_path("tables.engine", tmp_path)
    engine.write_text(engine.read_text() + "\n# edited after the build\n")
    files, state = native.check(tmp_path, env={})
    assert files == {} and "stale" in state and "make native" in state

    (native.build_dir(tmp_path) / "manifest.json").write_text("{not json")
    files, state = native.check(tmp_path, env={})
    assert files == {} and "unreadable" in state


def test_the_digest_covers_every_compiled_source(tmp_path: Path) -> None:
    _copy_sources(tmp_path)
    before = native.source_digest(root=tmp_path)
    for module in native.MODULES:
        path = native.source_path(module, tmp_path)
        original = path.read_bytes()
        path.write_bytes(original + b" ")
        assert native.source_digest(root=tmp_path) != before, module
        path.write_bytes(original)
    assert native.source_digest(root=tmp_path) == before
    assert len(before) == len(hashlib.sha256().hexdigest())
