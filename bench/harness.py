"""Interleaved A/B measurement: two sides, alternating batches, medians compared.

A *side* runs named benchmarks and returns, for each batch, the seconds that batch
took as measured inside the side's own process. The virtkit side runs in this
process; the libvirt side is a persistent /usr/bin/python3 worker (libvirt_worker.py)
driven over a pipe. The harness never times across the pipe.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

BENCH_DIR = Path(__file__).resolve().parent
SYSTEM_PYTHON = "/usr/bin/python3"


class Side(Protocol):
    """Something that can set up, run and tear down a named benchmark."""

    name: str

    def setup(self, bench: str, params: dict[str, Any]) -> None: ...
    def run(self, bench: str, n: int) -> float: ...
    def teardown(self, bench: str) -> None: ...


class BenchError(RuntimeError):
    """A side failed to set up or run a benchmark."""


class InProcessSide:
    """Runs benchmark classes (name -> class(params) with run(n)/teardown()) here."""

    def __init__(self, name: str, benches: dict[str, Any]) -> None:
        self.name = name
        self._benches = benches
        self._live: dict[str, Any] = {}

    def setup(self, bench: str, params: dict[str, Any]) -> None:
        self._live[bench] = self._benches[bench](params)

    def run(self, bench: str, n: int) -> float:
        return float(self._live[bench].run(n))

    def teardown(self, bench: str) -> None:
        live = self._live.pop(bench, None)
        if live is not None:
            live.teardown()


class WorkerSide:
    """A persistent subprocess speaking libvirt_worker.py's line-JSON protocol."""

    def __init__(self, name: str, argv: Sequence[str]) -> None:
        self.name = name
        self._proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=BENCH_DIR,
        )

    def _call(self, **req: Any) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(req) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise BenchError(f"{self.name} worker exited (status {self._proc.poll()})")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            raise BenchError(f"{self.name}: {reply.get('error')}")
        return reply

    def version(self) -> tuple[int, str]:
        """(libvirt version number, the worker's Python version)."""
        reply = self._call(op="version")
        return int(reply["version"]), str(reply["python"])

    def setup(self, bench: str, params: dict[str, Any]) -> None:
        self._call(op="setup", bench=bench, params=params)

    def run(self, bench: str, n: int) -> float:
        return float(self._call(op="run", bench=bench, n=n)["elapsed"])

    def teardown(self, bench: str) -> None:
        self._call(op="teardown", bench=bench)

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self._proc.stdin.close()
            self._proc.wait(timeout=30)


def libvirt_worker() -> WorkerSide:
    """Start the libvirt-python worker under Debian's interpreter."""
    return WorkerSide("libvirt", [SYSTEM_PYTHON, str(BENCH_DIR / "libvirt_worker.py")])


@dataclass
class Samples:
    """Per-operation seconds, one value per batch."""

    per_op: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.per_op)

    def to_json(self) -> dict[str, Any]:
        return {
            "median_s_per_op": self.median,
            "ops_per_s": 1.0 / self.median if self.median > 0 else None,
            "min_s_per_op": min(self.per_op),
            "max_s_per_op": max(self.per_op),
            "samples_s_per_op": self.per_op,
        }


def interleave(
    runners: dict[str, Callable[[], float]], samples: int, warmup: int = 1
) -> dict[str, Samples]:
    """Call each runner (returning seconds per op) in turn, `samples` rounds.

    Rounds alternate the starting side (A B, B A, A B, ...) so neither side always
    runs right after the other; `warmup` rounds are run first and discarded.
    """
    names = list(runners)
    out = {name: Samples() for name in names}
    for rnd in range(warmup + samples):
        order = names if rnd % 2 == 0 else names[::-1]
        for name in order:
            value = runners[name]()
            if rnd >= warmup:
                out[name].per_op.append(value)
    return out


def process_runner(argv: Sequence[str], check: Callable[[str], bool]) -> Callable[[], float]:
    """A runner timing one whole process (fork, exec, start-up, work, exit)."""

    def run() -> float:
        t0 = time.perf_counter()
        proc = subprocess.run(list(argv), capture_output=True, text=True, check=False)
        elapsed = time.perf_counter() - t0
        if proc.returncode != 0 or not check(proc.stdout):
            last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            raise BenchError(f"{' '.join(argv)} failed (status {proc.returncode}): {last[0]}")
        return elapsed

    return run
