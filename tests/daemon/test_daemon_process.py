"""Subreaper and orphan reaping (run in a child interpreter: prctl is per process)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import asyncio, os, signal, sys, time
    from virtkit.daemon.process import OrphanReaper, set_child_subreaper

    assert set_child_subreaper()

    async def run():
        loop = asyncio.get_running_loop()
        reaper = OrphanReaper(loop, grace=0.2)
        reaped = []
        reaper.on_exit.append(lambda pid, status: reaped.append((pid, status)))
        loop.add_signal_handler(signal.SIGCHLD, reaper.notify)

        # a child that double-forks: the grandchild is orphaned and adopted by us
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            grandchild = os.fork()
            if grandchild == 0:
                time.sleep(0.3)
                os._exit(7)
            os.write(w, str(grandchild).encode())
            os._exit(0)
        os.close(w)
        grandchild = int(os.read(r, 32))
        os.waitpid(pid, 0)

        # our own asyncio children keep their exit status
        proc = await asyncio.create_subprocess_exec("sh", "-c", "sleep 0.2; exit 3")
        assert await proc.wait() == 3

        for _ in range(100):
            if reaped:
                break
            await asyncio.sleep(0.05)
        reaper.close()
        assert reaped and reaped[0][0] == grandchild, reaped
        assert os.waitstatus_to_exitcode(reaped[0][1]) == 7
        print("ok")

    asyncio.run(run())
""")


def test_adopted_orphans_are_reaped_and_own_children_untouched() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
