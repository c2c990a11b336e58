"""Where the machine's CPU went during a phase, from /proc: the whole machine
(busy share of all CPUs, and the share of the time its tasks waited on the
disk), and CPU seconds of process groups: the API
(the server's main process and workers), the relay, PostgreSQL (every postgres
process, other people's too), Kafka (the broker JVM), the benchmark's own
processes, and everything else."""

from __future__ import annotations

import os
import threading
import time

TICKS = os.sysconf("SC_CLK_TCK")
# How often a phase's processes are read while it runs: a process that ends
# mid-phase (a database session the API recycles after CONN_MAX_AGE, or one
# a phase opened) counts up to its last reading, instead of landing in "other".
FOLLOW_SECONDS = 0.5


def _cpu_ticks(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[11]) + int(rest[12])  # utime + stime


def _io_stalled_us() -> tuple[int, int] | None:
    """Microseconds some / all of the machine's non-idle tasks spent waiting on
    I/O since boot (pressure stall information), or None where the kernel has none."""
    try:
        with open("/proc/pressure/io") as f:
            lines = dict(line.split(None, 1) for line in f)
    except OSError:
        return None
    return tuple(int(lines[kind].rsplit("total=", 1)[1]) for kind in ("some", "full"))


def _machine() -> tuple[int, int]:
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]), idle


def _processes() -> dict[int, tuple[int, str, int, str, int]]:
    """pid -> (ppid, comm, cpu ticks, cmdline, ticks of reaped children)"""
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        comm = stat[stat.index("(") + 1: stat.rindex(")")]
        rest = stat[stat.rindex(")") + 2:].split()
        ppid = int(rest[1])
        ticks = int(rest[11]) + int(rest[12])
        reaped = int(rest[13]) + int(rest[14])  # cutime + cstime: children it has waited for
        procs[int(entry)] = (ppid, comm, ticks, cmdline, reaped)
    return procs


class CpuMeter:
    """Snapshots before and after a phase; groups are resolved at each snapshot."""

    def __init__(self, roots: dict[str, list[int]]) -> None:
        # roots: group name -> pids whose whole process trees belong to it
        self.roots = roots
        self._start = None
        self._io_start: tuple[int, int] | None = None
        self._last_seen: dict[int, tuple[int, str]] = {}
        self._stopped = threading.Event()
        self._follower: threading.Thread | None = None

    def _sample(self):
        procs = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, *_rest) in procs.items():
            children.setdefault(ppid, []).append(pid)

        def tree(pid: int) -> set[int]:
            seen, stack = set(), [pid]
            while stack:
                p = stack.pop()
                if p in seen or p not in procs:
                    continue
                seen.add(p)
                stack.extend(children.get(p, ()))
            return seen

        owner: dict[int, str] = {}
        for group, pids in self.roots.items():
            for root in pids:
                for pid in tree(root):
                    owner.setdefault(pid, group)
        for pid, (_ppid, comm, _ticks, cmdline, _reaped) in procs.items():
            if pid in owner:
                continue
            if comm == "postgres" or cmdline.startswith("postgres"):
                owner[pid] = "postgres"
            elif "kafka.Kafka" in cmdline:
                owner[pid] = "kafka"
        # Group roots (our own processes) also count the children they reaped
        # during the phase (short-lived load generators); other processes
        # only their own time, so that a long-lived backend reaped by the
        # postmaster does not land in one phase.
        roots = {pid for pids in self.roots.values() for pid in pids}
        per_pid = {
            pid: ticks + (reaped if pid in roots else 0)
            for pid, (_p, _c, ticks, _cmd, reaped) in procs.items()
        }
        return time.monotonic(), _machine(), per_pid, owner

    def start(self) -> None:
        self._io_start = _io_stalled_us()
        self._start = self._sample()
        self._last_seen = {}
        self._stopped.clear()
        self._follower = threading.Thread(target=self._follow, daemon=True)
        self._follower.start()

    def _follow(self) -> None:
        # Every grouped process, those born during the phase too (a database
        # session the phase opens and closes), as last read. The whole of
        # /proc is read only when a process was born; otherwise only the
        # grouped ones' CPU, so that following costs the machine little.
        _t, _machine_ticks, ticks, groups = self._start
        seen = set(ticks)
        while not self._stopped.wait(FOLLOW_SECONDS):
            alive = {int(entry) for entry in os.listdir("/proc") if entry.isdigit()}
            if alive - seen:
                _t, _machine_ticks, ticks, owner = self._sample()
                seen |= set(ticks)
                groups = {**groups, **owner}
            for pid in alive & groups.keys():
                read = _cpu_ticks(pid)
                if read is not None:
                    self._last_seen[pid] = (read, groups[pid])

    def stop(self) -> dict:
        assert self._start is not None and self._follower is not None
        self._stopped.set()
        self._follower.join()
        t0, (total0, idle0), ticks0, owner0 = self._start
        t1, (total1, idle1), ticks1, owner1 = self._sample()
        # Processes of a group that ended during the phase, as last read.
        for pid, (ticks, group) in self._last_seen.items():
            if pid not in ticks1:
                ticks1[pid], owner1[pid] = ticks, group
        groups: dict[str, float] = {}
        accounted = 0.0
        for pid, ticks in ticks1.items():
            # A process born during the phase counts from zero.
            delta = (ticks - ticks0.get(pid, 0)) / TICKS
            if delta <= 0:
                continue
            group = owner1.get(pid)
            if group is None:
                continue
            groups[group] = groups.get(group, 0.0) + delta
            accounted += delta
        busy = ((total1 - total0) - (idle1 - idle0)) / TICKS
        wall = t1 - t0
        groups["other"] = max(0.0, busy - accounted)
        cpus = os.cpu_count() or 1
        io_end = _io_stalled_us()
        io = None if io_end is None or self._io_start is None else {
            kind: round((end - start) / 1e4 / max(1e-9, wall), 1)
            for kind, start, end in zip(("some_pct", "full_pct"), self._io_start, io_end, strict=True)
        }
        return {
            "wall_s": round(wall, 2),
            "machine_busy_pct": round(100.0 * busy / max(1e-9, wall * cpus), 1),
            "cpu_s": {k: round(v, 2) for k, v in sorted(groups.items())},
            "io_stalled": io,
        }
