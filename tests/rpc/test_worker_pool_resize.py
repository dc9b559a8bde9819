"""The RPC server's worker pools resize at run time (the admin API's threadpool parameters)."""

from __future__ import annotations

import threading
import time

import pytest

from virtkit.errors import VirtError
from virtkit.rpc.server import Server, _WorkerPool


def _wait(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_grow_starts_min_threads_and_shrink_lets_busy_ones_finish() -> None:
    pool = _WorkerPool("t", 4, 2)
    pool.resize()
    _wait(lambda: pool.stats()[:2] == (2, 2))
    pool.resize(min_size=6, size=8)
    _wait(lambda: pool.stats()[:2] == (6, 6))
    gate = threading.Event()
    done: list[int] = []
    for i in range(10):
        pool.submit(lambda i=i: (gate.wait(5), done.append(i)))
    _wait(lambda: pool.stats()[0] == 8 and pool.stats()[2] == 2)  # 8 busy, 2 waiting
    pool.resize(min_size=1, size=3)
    assert pool.stats()[0] == 3
    gate.set()
    _wait(lambda: len(done) == 10)  # every job ran, none lost to the stop markers
    _wait(lambda: pool.stats()[:2] == (3, 3))
    pool.submit(lambda: done.append(99))
    _wait(lambda: 99 in done)
    pool.shutdown()


class _Nothing:
    def programs(self) -> list[tuple[int, int]]:
        return []


def test_server_parameters_and_checks() -> None:
    srv = Server(_Nothing(), min_workers=2, max_workers=5, prio_workers=1)  # type: ignore[arg-type]
    try:
        _wait(lambda: srv.threadpool_parameters()["nWorkers"] == 2)
        assert srv.threadpool_parameters()["prioWorkers"] == 1
        srv.set_threadpool_parameters(max_workers=9, prio_workers=0)
        params = srv.threadpool_parameters()
        assert (params["minWorkers"], params["maxWorkers"]) == (2, 9)
        _wait(lambda: srv.threadpool_parameters()["prioWorkers"] == 0)
        with pytest.raises(VirtError, match="minWorkers cannot be larger than maxWorkers"):
            srv.set_threadpool_parameters(min_workers=10)
        with pytest.raises(VirtError, match="must not be switched from zero"):
            srv.set_threadpool_parameters(min_workers=0, max_workers=0)
        srv.set_client_limits(max_clients=7, max_unauth=3)
        assert (srv.max_clients, srv.max_anonymous_clients) == (7, 3)
        with pytest.raises(VirtError, match="must not be less than"):
            srv.set_client_limits(max_clients=2)
    finally:
        srv._pool.shutdown()
        srv._prio_pool.shutdown()
