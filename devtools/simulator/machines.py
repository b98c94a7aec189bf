"""One simulated host's system metrics, as Telegraf's inputs report them (pure).

Gauges follow mean-reverting random walks from the host's own random stream; cumulative
counters (diskio, net) only grow, by rate x elapsed time, until a reboot
(:meth:`HostMetrics.reboot`) restarts them near zero. Field names, tags and types follow the
Telegraf cpu (``percpu``, ``totalcpu``, ``report_active``), mem, disk, diskio, net and system
inputs.
"""

from __future__ import annotations

import math
import random

from formats.points import FieldValue, Metric

GIB = 1024**3


def _clamp(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


class HostMetrics:
    """Random-walk state of one host; :meth:`sample` returns its metrics at one tick."""

    def __init__(self, name: str, index: int, seed: int, start: float, interval: float) -> None:
        rng = self._rng = random.Random(f"{seed}/host/{index}")
        self.name = name
        self.interval = interval
        self.n_cpus = rng.choice((2, 4, 4, 8))
        self.mem_total = rng.choice((8, 16, 16, 32)) * GIB
        self.disk_total = rng.choice((50, 100, 200)) * GIB
        self.base_cpu = 8.0 + rng.random() * 35.0
        self.cpu = self.base_cpu
        self.mem_pct = 30.0 + rng.random() * 35.0
        self.disk_used = int(self.disk_total * (0.2 + 0.5 * rng.random()))
        self.read_rate = 5.0 + rng.random() * 30.0  # reads/s
        self.write_rate = 10.0 + rng.random() * 60.0  # writes/s
        self.net_in = 20_000.0 + rng.random() * 80_000.0  # background bytes/s
        self.net_out = 10_000.0 + rng.random() * 40_000.0
        self.n_users = rng.randrange(0, 4)
        load = self.base_cpu / 100.0 * self.n_cpus
        self.load = [load, load, load]
        self.last: float | None = None
        self.boot = 0.0
        self.counters: dict[str, int] = {}
        self.boot = start - rng.randrange(3, 90) * 86_400 - rng.randrange(86_400)
        self._reset_counters(start - self.boot)
        self.traffic_in = 0
        self.traffic_out = 0
        self._tags_core = [{"cpu": f"cpu{i}", "host": name} for i in range(self.n_cpus)]
        self._tags_total = {"cpu": "cpu-total", "host": name}
        self._tags_host = {"host": name}
        self._tags_disk = {
            "device": "sda1",
            "fstype": "ext4",
            "host": name,
            "mode": "rw",
            "path": "/",
        }
        self._tags_diskio = {"host": name, "name": "sda"}
        self._tags_net = {"host": name, "interface": "eth0"}

    def reboot(self, at: float) -> None:
        """Reboot at ``at``: uptime and the cumulative counters restart near zero."""
        self.boot = at
        self._reset_counters(0.0)

    def _reset_counters(self, age: float) -> None:
        rng = self._rng
        reads = int(age * self.read_rate) + rng.randrange(100, 2_000)
        writes = int(age * self.write_rate) + rng.randrange(100, 2_000)
        self.counters = {
            "reads": reads,
            "writes": writes,
            "read_bytes": reads * 16_384,
            "write_bytes": writes * 8_192,
            "read_time": reads * 2,
            "write_time": writes * 3,
            "io_time": (reads + writes) * 2,
            "weighted_io_time": (reads + writes) * 4,
            "merged_reads": reads // 10,
            "merged_writes": writes // 5,
            "bytes_recv": int(age * self.net_in) + rng.randrange(100_000, 10_000_000),
            "bytes_sent": int(age * self.net_out) + rng.randrange(100_000, 10_000_000),
            "packets_recv": int(age * self.net_in / 900) + rng.randrange(1_000, 10_000),
            "packets_sent": int(age * self.net_out / 1_200) + rng.randrange(1_000, 10_000),
            "err_in": int(age / 50_000),
            "err_out": int(age / 100_000),
            "drop_in": int(age / 7_000),
            "drop_out": int(age / 100_000),
        }

    def add_traffic(self, bytes_in: int, bytes_out: int) -> None:
        """Account nginx request/response bytes; they show in the next net sample."""
        self.traffic_in += bytes_in
        self.traffic_out += bytes_out

    def sample(self, t: float, saturation: float | None = None) -> list[Metric]:
        """Every metric of this host at tick ``t``; ``saturation`` pins cpu-total usage_active."""
        rng = self._rng
        gauss = rng.gauss
        dt = self.interval if self.last is None else t - self.last
        self.last = t

        self.cpu = _clamp(self.cpu + 0.15 * (self.base_cpu - self.cpu) + gauss(0, 2.5), 1.0, 80.0)
        if saturation is None:
            level, spread = self.cpu, 3.0
        else:
            level, spread = saturation + gauss(0, 0.5), 1.0
        cores = [_clamp(level + gauss(0, spread), 0.0, 100.0) for _ in range(self.n_cpus)]
        shares = self._cpu_shares(rng.random())
        out = [
            Metric("cpu", self._tags_core[i], self._cpu_fields(a, shares), t)
            for i, a in enumerate(cores)
        ]
        total = sum(cores) / self.n_cpus
        out.append(Metric("cpu", self._tags_total, self._cpu_fields(total, shares), t))
        out.append(Metric("mem", self._tags_host, self._mem(rng), t))
        out.append(Metric("disk", self._tags_disk, self._disk(rng, dt), t))
        out.append(Metric("diskio", self._tags_diskio, self._diskio(rng, dt), t))
        out.append(Metric("net", self._tags_net, self._net(rng, dt), t))
        out.append(Metric("system", self._tags_host, self._system(total, saturation, t, dt), t))
        return out

    @staticmethod
    def _cpu_shares(u: float) -> tuple[float, float, float, float, float, float]:
        user = 0.58 + 0.1 * u
        system = 0.9 - user
        return (user, system, 0.04, 0.02, 0.03, 0.01)  # user system iowait irq softirq steal

    @staticmethod
    def _cpu_fields(active: float, s: tuple[float, ...]) -> dict[str, FieldValue]:
        return {
            "usage_user": active * s[0],
            "usage_system": active * s[1],
            "usage_idle": 100.0 - active,
            "usage_nice": 0.0,
            "usage_iowait": active * s[2],
            "usage_irq": active * s[3],
            "usage_softirq": active * s[4],
            "usage_steal": active * s[5],
            "usage_guest": 0.0,
            "usage_guest_nice": 0.0,
            "usage_active": active,
        }

    def _mem(self, rng: random.Random) -> dict[str, FieldValue]:
        self.mem_pct = _clamp(self.mem_pct + rng.gauss(0, 0.8), 15.0, 92.0)
        total = self.mem_total
        used = int(total * self.mem_pct / 100.0)
        available = total - used
        free = available // 4
        cached = available * 13 // 20
        return {
            "active": used * 4 // 5,
            "available": available,
            "available_percent": available * 100.0 / total,
            "buffered": available - free - cached,
            "cached": cached,
            "free": free,
            "inactive": cached // 2,
            "total": total,
            "used": used,
            "used_percent": used * 100.0 / total,
        }

    def _disk(self, rng: random.Random, dt: float) -> dict[str, FieldValue]:
        self.disk_used += int(rng.random() * dt * 40_000)
        if self.disk_used > self.disk_total * 0.9 or rng.random() < 0.002:
            self.disk_used = int(self.disk_used * 0.9)  # log rotation / cleanup
        total, used = self.disk_total, self.disk_used
        inodes_total = total // 16_384
        inodes_used = used // 65_536
        return {
            "free": total - used,
            "inodes_free": inodes_total - inodes_used,
            "inodes_total": inodes_total,
            "inodes_used": inodes_used,
            "total": total,
            "used": used,
            "used_percent": used * 100.0 / total,
        }

    def _diskio(self, rng: random.Random, dt: float) -> dict[str, FieldValue]:
        c = self.counters
        self.read_rate = _clamp(self.read_rate * (1.0 + rng.gauss(0, 0.05)), 1.0, 400.0)
        self.write_rate = _clamp(self.write_rate * (1.0 + rng.gauss(0, 0.05)), 1.0, 800.0)
        reads = int(self.read_rate * dt)
        writes = int(self.write_rate * dt)
        read_time = reads * (1 + int(rng.random() * 3))
        write_time = writes * (2 + int(rng.random() * 3))
        c["reads"] += reads
        c["writes"] += writes
        c["read_bytes"] += reads * 4_096 * (1 + int(rng.random() * 8))
        c["write_bytes"] += writes * 4_096 * (1 + int(rng.random() * 4))
        c["read_time"] += read_time
        c["write_time"] += write_time
        c["io_time"] += min(int(dt * 1000), (read_time + write_time) * 7 // 10)
        c["weighted_io_time"] += read_time + write_time
        c["merged_reads"] += reads // 10
        c["merged_writes"] += writes // 5
        return {
            "io_time": c["io_time"],
            "iops_in_progress": int(rng.random() * 1.3),
            "merged_reads": c["merged_reads"],
            "merged_writes": c["merged_writes"],
            "read_bytes": c["read_bytes"],
            "read_time": c["read_time"],
            "reads": c["reads"],
            "weighted_io_time": c["weighted_io_time"],
            "write_bytes": c["write_bytes"],
            "write_time": c["write_time"],
            "writes": c["writes"],
        }

    def _net(self, rng: random.Random, dt: float) -> dict[str, FieldValue]:
        c = self.counters
        recv = int(self.net_in * dt * (0.8 + 0.4 * rng.random())) + self.traffic_in
        sent = int(self.net_out * dt * (0.8 + 0.4 * rng.random())) + self.traffic_out
        self.traffic_in = self.traffic_out = 0
        c["bytes_recv"] += recv
        c["bytes_sent"] += sent
        c["packets_recv"] += recv // 900 + 1
        c["packets_sent"] += sent // 1_200 + 1
        if rng.random() < 0.02:
            c["err_in"] += 1
        if rng.random() < 0.01:
            c["err_out"] += 1
        if rng.random() < 0.05:
            c["drop_in"] += 1 + int(rng.random() * 5)
        if rng.random() < 0.01:
            c["drop_out"] += 1
        return {
            "bytes_recv": c["bytes_recv"],
            "bytes_sent": c["bytes_sent"],
            "drop_in": c["drop_in"],
            "drop_out": c["drop_out"],
            "err_in": c["err_in"],
            "err_out": c["err_out"],
            "packets_recv": c["packets_recv"],
            "packets_sent": c["packets_sent"],
        }

    def _system(
        self, active: float, saturation: float | None, t: float, dt: float
    ) -> dict[str, FieldValue]:
        runnable = active / 100.0 * self.n_cpus * (1.8 if saturation is not None else 1.0)
        for i, horizon in enumerate((60.0, 300.0, 900.0)):
            decay = math.exp(-dt / horizon)
            self.load[i] = self.load[i] * decay + runnable * (1.0 - decay)
        return {
            "load1": round(self.load[0], 2),
            "load5": round(self.load[1], 2),
            "load15": round(self.load[2], 2),
            "n_cpus": self.n_cpus,
            "n_users": self.n_users,
            "uptime": int(t - self.boot),
        }
