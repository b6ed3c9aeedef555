#!/usr/bin/env python3
"""Ctrl-C latency of a waiting GpuManager.reserve(): time from SIGINT to KeyboardInterrupt,
reported as a ratio to the same latency of a plain Python wait (time.sleep in a loop), measured in
the same run. Target (issue 12): within 100 ms.

Usage: PYTHONPATH=build/default/python python3 bench/ctrl_c_latency.py [TRIALS]
"""
import os
import signal
import statistics
import sys
import tempfile
import threading
import time

from whisper_vram import GpuManager


def latency(wait) -> float:
    sent = []

    def interrupt():
        time.sleep(0.2)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt)
    thread.start()
    try:
        wait()
    except KeyboardInterrupt:
        woke = time.monotonic()
    thread.join()
    return woke - sent[0]


def plain_wait():
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.001)


def main() -> int:
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as state:
        os.environ["WHISPER_VRAM_STATE_DIR"] = state
        manager = GpuManager(simulate="12GiB")
        held = manager.reserve("large", timeout=0)  # 9.8 of 12 GiB: a second large waits
        baseline = [latency(plain_wait) for _ in range(trials)]
        waiting = [latency(lambda: manager.reserve("large", timeout=30)) for _ in range(trials)]
        held.release()
    base = statistics.median(baseline)
    print(f"plain wait      : median {base * 1e3:7.2f} ms, max {max(baseline) * 1e3:7.2f} ms")
    print(f"reserve() wait  : median {statistics.median(waiting) * 1e3:7.2f} ms, max {max(waiting) * 1e3:7.2f} ms")
    print(f"ratio (median)  : {statistics.median(waiting) / base:.1f}x the plain wait; target max < 100 ms: "
          f"{'met' if max(waiting) < 0.1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
