#!/usr/bin/env python3
"""A real Prometheus (Debian's `prometheus`, `promtool`) against `whisper-vram serve` on loopback.

    python3 tests/prometheus/prometheus_test.py PATH/TO/whisper-vram

1. Starts `whisper-vram serve --listen 127.0.0.1:0 --simulate "RTX 3090,8GiB:used=1GiB"` (a fresh
   WHISPER_VRAM_STATE_DIR) and takes one lease through the API.
2. `promtool check metrics` on its /metrics: must exit 0 and print nothing (no lint warning).
3. Starts `prometheus` on 127.0.0.1 with a generated config scraping the serve every second (a fresh
   --storage.tsdb.path), waits for the target to be up (/api/v1/targets), and queries
   (/api/v1/query) the GPU memory gauges and whisper_vram_leases: they must equal the simulated GPUs'
   bytes and the one lease.
4. Also scrapes a dcgm-exporter stand-in (DCGM_FI_DEV_FB_USED/FB_TOTAL in MiB, label UUID, served by
   this script) and evaluates the README's PromQL joins ("Service", "Metrics") against hand values.

Exit 0 pass, 1 fail, 77 skip (prometheus or promtool missing; a failure instead when
WHISPER_VRAM_REQUIRE_TEST_TOOLS=1). Bounded: every wait has a deadline, 50 s in all. Everything it
starts is killed on exit (and dies with it: PR_SET_PDEATHSIG), its temporary folder removed.
"""

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SKIP = 77
GIB = 1024**3
# The simulated GPUs: a catalog RTX 3090 (24 GiB) and an 8 GiB one with 1 GiB used.
SIMULATE = "RTX 3090,8GiB:used=1GiB"
EXPECTED = {
    'whisper_vram_gpu_memory_total_bytes{gpu="0"}': 24 * GIB,
    'whisper_vram_gpu_memory_total_bytes{gpu="1"}': 8 * GIB,
    'whisper_vram_gpu_memory_used_bytes{gpu="1"}': 1 * GIB,
    'whisper_vram_gpu_memory_free_bytes{gpu="1"}': 7 * GIB,
}
START = time.monotonic()
BUDGET_S = 50.0

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what, flush=True)
    if not ok:
        failures.append(what)


def skip_or_fail(why):
    if os.environ.get("WHISPER_VRAM_REQUIRE_TEST_TOOLS") == "1":
        print(f"FAIL: {why} (WHISPER_VRAM_REQUIRE_TEST_TOOLS=1: the test tools are required)")
        sys.exit(1)
    print(f"SKIP: {why} (install with scripts/setup.sh --tests)")
    sys.exit(SKIP)


def remaining():
    return BUDGET_S - (time.monotonic() - START)


def die_with_parent():
    # The children die with this script even when it is SIGKILLed (a ctest timeout).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


def http(method, url, body=None, timeout=5.0):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_for(what, probe, deadline_s):
    end = time.monotonic() + min(deadline_s, remaining())
    last = None
    while time.monotonic() < end:
        try:
            value = probe()
            if value:
                return value
            last = "not yet"
        except (OSError, ValueError, KeyError) as e:
            last = repr(e)
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {deadline_s:.0f} s ({last})")


# The README's PromQL (section "Service", "Metrics"): dcgm-exporter's MiB fields joined on the GPU UUID.
PROMQL_UNRESERVED_USE = ('label_replace(DCGM_FI_DEV_FB_USED, "uuid", "$1", "UUID", "(.*)") * 1024 * 1024\n'
                         '- on(uuid) group_right() whisper_vram_gpu_memory_reserved_bytes')
PROMQL_RESERVED_SHARE = ('whisper_vram_gpu_memory_reserved_bytes\n'
                         '/ on(uuid) group_left() (label_replace(DCGM_FI_DEV_FB_TOTAL, "uuid", "$1", "UUID", "(.*)") '
                         '* 1024 * 1024)')
# What the stand-in says per GPU index: (FB_USED MiB, FB_TOTAL MiB).
DCGM_MIB = {0: (1024, 24576), 1: (3072, 8192)}


def dcgm_exporter(uuids):
    """A dcgm-exporter stand-in on loopback: its label names and units (MiB), the given GPU UUIDs."""
    lines = []
    for field, column, help_text in (("DCGM_FI_DEV_FB_USED", 0, "Framebuffer memory used (in MiB)."),
                                     ("DCGM_FI_DEV_FB_TOTAL", 1, "Framebuffer memory total (in MiB).")):
        lines += [f"# HELP {field} {help_text}", f"# TYPE {field} gauge"]
        for index, uuid in uuids.items():
            lines.append(f'{field}{{gpu="{index}",UUID="{uuid}",device="nvidia{index}",modelName="NVIDIA GPU",'
                         f'Hostname="localhost"}} {DCGM_MIB[index][column]}')
    text = ("\n".join(lines) + "\n").encode()

    class handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print(f"usage: prometheus_test.py PATH/TO/whisper-vram (got {sys.argv[1:]})")
        return 1
    binary = sys.argv[1]
    tools = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    for name, found in tools.items():
        if not found:
            skip_or_fail(f"{name} is missing")

    work = tempfile.mkdtemp(prefix="wv-prom-")
    children = []

    def cleanup():
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        shutil.rmtree(work, ignore_errors=True)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        state = os.path.join(work, "state")
        os.mkdir(state, 0o700)
        env = dict(os.environ, WHISPER_VRAM_STATE_DIR=state)
        env.pop("WHISPER_VRAM_SIMULATE", None)
        serve_log = open(os.path.join(work, "serve.log"), "w+")
        serve = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--simulate", SIMULATE],
            env=env, stdout=serve_log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        children.append(serve)

        def listening():
            if serve.poll() is not None:
                raise OSError(f"serve exited with {serve.returncode}")
            serve_log.seek(0)
            m = re.search(r"listening on (http://127\.0\.0\.1:(\d+))", serve_log.read())
            return m and (m.group(1), int(m.group(2)))

        base, port = wait_for("serve prints 'listening on'", listening, 15)
        print(f"serve: {base}", flush=True)

        status, body = http("POST", f"{base}/api/v1/leases", {"model": "tiny", "ttl_seconds": 120})
        check(status == 201, f"POST /api/v1/leases (tiny, ttl 120 s): HTTP {status} {' '.join(body.split())[:160]}")
        lease = json.loads(body) if status == 201 else {}

        # promtool check metrics: exit 0 and nothing printed (it prints each lint problem).
        status, metrics = http("GET", f"{base}/metrics")
        check(status == 200, f"GET /metrics: HTTP {status}")
        lint = subprocess.run([tools["promtool"], "check", "metrics"], input=metrics, capture_output=True,
                              text=True, timeout=min(10, remaining()))
        problems = (lint.stdout + lint.stderr).strip()
        check(lint.returncode == 0 and problems == "",
              f"promtool check metrics: exit {lint.returncode}" + (f": {problems}" if problems else ", no warnings"))

        status, body = http("GET", f"{base}/api/v1/gpus")
        uuids = {g["cuda_index"]: g["uuid"] for g in json.loads(body)["gpus"]}
        dcgm = dcgm_exporter(uuids)
        dcgm_port = dcgm.server_address[1]

        prom_port = free_port()
        config = os.path.join(work, "prometheus.yml")
        with open(config, "w") as f:
            f.write(f"""global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: whisper-vram
    static_configs:
      - targets: ['127.0.0.1:{port}']
  - job_name: dcgm
    static_configs:
      - targets: ['127.0.0.1:{dcgm_port}']
""")
        prom_log = open(os.path.join(work, "prometheus.log"), "w+")
        prom = subprocess.Popen(
            [tools["prometheus"], f"--config.file={config}", f"--storage.tsdb.path={work}/tsdb",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            stdout=prom_log, stderr=subprocess.STDOUT, cwd=work, preexec_fn=die_with_parent)
        children.append(prom)
        api = f"http://127.0.0.1:{prom_port}/api/v1"

        def target_up():
            if prom.poll() is not None:
                prom_log.seek(0)
                raise OSError(f"prometheus exited with {prom.returncode}: {prom_log.read()[-600:]}")
            status, body = http("GET", f"{api}/targets", timeout=2)
            if status != 200:
                return None
            active = json.loads(body)["data"]["activeTargets"]
            return next((t for t in active if t["health"] == "up" and t["labels"]["job"] == "whisper-vram"), None)

        target = wait_for("the whisper-vram target is up in Prometheus", target_up, 30)
        check(True, f"Prometheus scrapes {target['scrapeUrl']}: health up")

        def query(expr):
            status, body = http("GET", f"{api}/query?" + urllib.parse.urlencode({"query": expr}), timeout=2)
            if status != 200:
                raise ValueError(f"query {expr}: HTTP {status} {body[:200]}")
            result = json.loads(body)["data"]["result"]
            return result

        for expr, want in EXPECTED.items():
            result = wait_for(f"{expr} has a sample", lambda e=expr: query(e), 10)
            got = [float(r["value"][1]) for r in result]
            check(got == [float(want)], f"{expr} = {got} (expected [{want}], the simulated GPU's bytes)")
        labels = query('whisper_vram_gpu_memory_total_bytes{gpu="0"}')[0]["metric"]
        check(labels.get("uuid", "").startswith("GPU-") and labels.get("model_name") == "RTX 3090",
              f"gpu 0 labels: {labels}")
        leases = wait_for("whisper_vram_leases has a sample", lambda: query("whisper_vram_leases"), 10)
        got = sum(float(r["value"][1]) for r in leases)
        check(got == 1.0, f"whisper_vram_leases = {got} (expected 1: the lease taken above)")
        # The lease's bytes are reserved on its GPU (best fit: the 8 GiB one, 7 GiB free) and no longer
        # admittable there: admittable = total - used - reserved.
        gpu = str(lease.get("cuda_index"))
        reserved = query(f'whisper_vram_gpu_memory_reserved_bytes{{gpu="{gpu}"}}')
        got = [float(r["value"][1]) for r in reserved]
        check(got == [float(lease.get("bytes", -1))],
              f'whisper_vram_gpu_memory_reserved_bytes{{gpu="{gpu}"}} = {got} (the lease\'s bytes: {lease.get("bytes")})')
        admittable = query('whisper_vram_gpu_memory_admittable_bytes{gpu="1"}')
        got = [float(r["value"][1]) for r in admittable]
        want = 7 * GIB - (lease.get("bytes", 0) if gpu == "1" else 0)
        check(got == [float(want)], f'whisper_vram_gpu_memory_admittable_bytes{{gpu="1"}} = {got} (expected 7 GiB - lease = {want})')
        up = query('up{job="whisper-vram"}')
        check([float(r["value"][1]) for r in up] == [1.0], f'up{{job="whisper-vram"}} = {[r["value"][1] for r in up]}')

        # The README's joins with dcgm-exporter, per GPU: used (MiB -> bytes) - reserved; reserved / total.
        wait_for("the dcgm stand-in is scraped", lambda: query('up{job="dcgm"} == 1'), 15)
        lease_bytes = {int(gpu): lease.get("bytes", 0)} if lease else {}
        joined = wait_for("the unreserved-use join has both GPUs", lambda: len(query(PROMQL_UNRESERVED_USE)) == 2
                          and query(PROMQL_UNRESERVED_USE), 10)
        got = {r["metric"]["gpu"]: float(r["value"][1]) for r in joined}
        want = {str(i): float(DCGM_MIB[i][0] * 1024 * 1024 - lease_bytes.get(i, 0)) for i in DCGM_MIB}
        check(got == want and all("model_name" in r["metric"] for r in joined),
              f"README PromQL: FB_USED MiB x 1024 x 1024 - reserved, joined on uuid = {got} (expected {want})")
        share = {r["metric"]["gpu"]: float(r["value"][1]) for r in query(PROMQL_RESERVED_SHARE)}
        want = {str(i): lease_bytes.get(i, 0) / (DCGM_MIB[i][1] * 1024 * 1024) for i in DCGM_MIB}
        check(share.keys() == want.keys() and all(abs(share[k] - want[k]) < 1e-12 for k in want),
              f"README PromQL: reserved / (FB_TOTAL MiB x 1024 x 1024) = {share} (expected {want})")
        dcgm.shutdown()
    except Exception as e:  # noqa: BLE001 - any failure is reported with the logs, then cleaned up
        check(False, f"{type(e).__name__}: {e}")
        for name in ("serve.log", "prometheus.log"):
            p = os.path.join(work, name)
            if os.path.exists(p):
                print(f"--- {name} (last 1500 bytes)\n{open(p).read()[-1500:]}")
    finally:
        cleanup()
    print("PASS: prometheus test" if not failures else f"FAIL: {len(failures)} check(s) failed "
          f"({time.monotonic() - START:.1f} s)")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
