"""Load test of the moderation API: prompt-check throughput and latency, and memory during big uploads.

Starts ``videoguard serve`` in a child process (state in a temporary ``$VIDEOGUARD_HOME``), then:

1. baseline: ``--clients`` concurrent clients on ``GET /healthz`` (the HTTP stack alone) for ``--duration`` s,
   then on ``GET /v1/generations/<unknown>`` (the API layer: key lookup, scope, rate limit, a 404 problem);
2. ``--clients`` concurrent clients on ``POST /v1/prompts/check`` for ``--duration`` s: requests/s, p50/p99,
   errors (any non-200), the server's CPU time per request (the load-independent figure on a shared box),
   the load generator's own CPU use (it shares the cores with the server) and the ratios against the baseline;
   the prompts are the 1717 distinct VBench prompts in turn (``--prompt-set fixed``: the 16 short ones of
   earlier runs). Nothing caches verdicts between requests, so repeats cost the same as new prompts.
   Closed loop by default: each client sends again as soon as it is answered, so the clients saturate the
   server and latency is tied to throughput (16 clients / mean latency = req/s). ``--rate R`` (repeatable)
   runs an offered-load phase instead: the clients together send R req/s on a fixed schedule (open loop) and
   latency counts from each request's scheduled time, queueing included; this is the reading for "p99 at
   200 req/s";
3. ``--uploads`` uploads of ``--upload-mb`` MB streamed to ``POST /v1/videos/verify`` while the server's
   RSS is sampled every 20 ms: the growth over the RSS before the upload.

The clients are a minimal keep-alive HTTP/1.1 client on asyncio, so the load generator (on the same
machine) takes as little CPU from the server as possible. Targets (issue 8): >= 200 req/s, p99 <= 50 ms,
zero errors on 2 cores; RSS growth <= 50 MB for a 100 MB upload.

    .venv/bin/python benchmarks/api_load.py --duration 60 --clients 16 --upload-mb 100
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import psutil

PROMPTS = [
    "a red ball bouncing on a wooden floor", "a kite flying over a beach at sunset", "waves rolling onto a rocky shore",
    "a timelapse of clouds over mountains", "a cat sleeping on a windowsill in the rain",
    "a paper boat floating down a stream", "city traffic at night seen from above", "a candle flame flickering",
    "autumn leaves falling in a park", "a hot air balloon rising at dawn", "snow falling on a pine forest",
    "a chef chopping vegetables in a kitchen", "a dog running through tall grass", "fireworks over a harbour",
    "a train crossing a stone bridge", "bees visiting lavender flowers",
]


def vbench_prompts(count: int = 2048) -> list[str]:
    """Real T2V prompts (VBench, benign; some long, some naming places or people, so spaCy runs too)."""
    import random

    from guard.prompt_filter.dataset import DEFAULT_DATA

    lines = (DEFAULT_DATA / "benign" / "vbench_prompts.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in lines]
    return random.Random(0).sample(texts, min(count, len(texts)))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------- a minimal HTTP/1.1 client
class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
        body = await self.reader.readexactly(length)
        if any(line.lower() == "connection: close" for line in lines):
            self.writer.close()
            self.reader = self.writer = None
        return status, body


def _post(path: str, key: str, payload: dict) -> bytes:
    body = json.dumps(payload).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _get(path: str, key: str | None = None) -> bytes:
    auth = f"X-API-Key: {key}\r\n" if key else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode()


async def _load(port: int, clients: int, duration_s: float, make_request: object, expect: int = 200) -> dict:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    deadline = time.perf_counter() + duration_s

    async def client(index: int) -> None:
        connection = Connection(port)
        count = index
        while time.perf_counter() < deadline:
            raw = make_request(count)  # type: ignore[operator]
            count += clients
            start = time.perf_counter()
            answered, connection = await _send(connection, raw, port, expect, errors)
            if answered:
                latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(client(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    return _summary(latencies, errors, elapsed)


async def _send(connection: Connection, raw: bytes, port: int, expect: int,
                errors: dict[str, int]) -> tuple[bool, Connection]:
    """Send one request; count a failed exchange or an unexpected status in ``errors``. Returns whether an
    answer came back (its latency counts) and the connection to use next (a new one after a broken one)."""
    try:
        status, _ = await connection.request(raw)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
        return False, Connection(port)
    if status != expect:
        errors[str(status)] = errors.get(str(status), 0) + 1
    return True, connection


def _summary(latencies: list[float], errors: dict[str, int], elapsed: float) -> dict:
    ms = np.array(latencies) * 1000.0
    return {"requests": len(latencies), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
            "max_ms": round(float(ms.max()), 2) if len(ms) else None,
            "errors": sum(errors.values()), "error_kinds": errors}


async def _offered_load(port: int, clients: int, duration_s: float, rate: float, make_request: object,
                        expect: int = 200) -> dict:
    """Open loop at ``rate`` requests/s in total over ``clients`` keep-alive connections (wrk2's model).

    Request k is due at ``start + k / rate`` whatever happened to the earlier ones. A free connection takes the
    next due request, waits for its send time and sends it; its latency runs from the *scheduled* time, not
    from the send. So when every connection is busy (the server fell behind), the wait for a connection counts
    as latency instead of silently lowering the offered rate: no coordinated omission. Requests due after
    ``duration_s`` are not sent. ``late_ms_p99`` is how late sends left against their schedule: waiting for a
    free connection, or the load generator's own lag (it shares the CPU with the server)."""
    latencies: list[float] = []
    late: list[float] = []
    errors: dict[str, int] = {}
    due = iter(range(int(duration_s * rate)))
    start = time.perf_counter() + 0.05

    async def client() -> None:
        connection = Connection(port)
        for k in due:  # a shared iterator: each due request goes to exactly one free connection
            scheduled = start + k / rate
            wait = scheduled - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            late.append(time.perf_counter() - scheduled)
            answered, connection = await _send(connection, make_request(k), port, expect, errors)  # type: ignore[operator]
            if answered:
                latencies.append(time.perf_counter() - scheduled)

    await asyncio.gather(*(client() for _ in range(clients)))
    summary = _summary(latencies, errors, time.perf_counter() - start)
    summary["offered_rps"] = rate
    summary["late_ms_p99"] = round(float(np.percentile(np.array(late) * 1000.0, 99)), 2) if late else None
    return summary


def _cpu_s(process: psutil.Process, *, children: bool = False) -> float:
    """CPU seconds of ``process`` and, with ``children``, its live children (the server's prompt worker processes)."""
    total = sum(process.cpu_times()[:2])
    for child in process.children(recursive=True) if children else []:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += sum(child.cpu_times()[:2])
    return total


def _thread_cpu_s(process: psutil.Process, thread_id: int) -> float:
    """CPU seconds of one thread of ``process`` (0 if it is gone)."""
    return next((t.user_time + t.system_time for t in process.threads() if t.id == thread_id), 0.0)


# ---------------------------------------------------------------------------- uploads and RSS
def _chunks(path: Path, size: int = 1 << 20) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            yield chunk


def upload_rss(url: str, key: str, pid: int, megabytes: int, uploads: int) -> list[dict]:
    process = psutil.Process(pid)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        blob = Path(tmp) / "upload.bin"
        with blob.open("wb") as handle:
            for _ in range(megabytes):
                handle.write(os.urandom(1 << 20))
        for _ in range(uploads):
            before = process.memory_info().rss
            peak = [before]
            stop = threading.Event()

            def sample(peak: list[int] = peak, stop: threading.Event = stop) -> None:
                while not stop.is_set():
                    peak[0] = max(peak[0], process.memory_info().rss)
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            start = time.perf_counter()
            response = httpx.post(f"{url}/v1/videos/verify", content=_chunks(blob), timeout=600,
                                  headers={"X-API-Key": key, "Content-Type": "video/mp4"})
            elapsed = time.perf_counter() - start
            stop.set()
            sampler.join()
            results.append({"mb": megabytes, "status": response.status_code, "seconds": round(elapsed, 2),
                            "mb_per_s": round(megabytes / elapsed, 1), "rss_before_mb": round(before / 2**20, 1),
                            "rss_peak_mb": round(peak[0] / 2**20, 1),
                            "rss_growth_mb": round((peak[0] - before) / 2**20, 1)})
    return results


# ---------------------------------------------------------------------------- where the time goes
def attribute(samples: int = 48) -> dict:
    """In this process, without HTTP: the prompt gate per prompt, alone and through ``check_batch`` (16, as the API
    batcher), one ledger append and a 16-record ``append_many``; wall and CPU time per prompt."""
    from guard.assembly import build_prompt_stage
    from guard.ledger import Ledger
    from guard.policy import load_policy

    policy = load_policy()
    stage = build_prompt_stage(policy)
    if stage is None:
        return {"prompt_stage": "missing"}
    ledger = Ledger(Path(os.environ["VIDEOGUARD_HOME"]) / "attribution-ledger.sqlite3")
    for prompt in PROMPTS[:4]:
        stage(prompt)

    def timed(fn: object, count: int) -> tuple[float, float]:
        cpu, start = time.process_time(), time.perf_counter()
        fn()  # type: ignore[operator]
        return (time.perf_counter() - start) * 1000 / count, (time.process_time() - cpu) * 1000 / count

    gate_ms, gate_cpu = timed(lambda: [stage(PROMPTS[i % len(PROMPTS)]) for i in range(samples)], samples)
    result = {"prompt_gate_ms_per_prompt": round(gate_ms, 2), "prompt_gate_cpu_ms": round(gate_cpu, 2)}
    if hasattr(stage, "check_batch"):
        batch_ms, batch_cpu = timed(lambda: [stage.check_batch(PROMPTS) for _ in range(3)], 3 * len(PROMPTS))
        result.update(gate_batch16_ms_per_prompt=round(batch_ms, 2), gate_batch16_cpu_ms=round(batch_cpu, 2),
                      in_process_ceiling_rps_2_threads=round(2 * 1000 / batch_cpu, 0))
    ledger_ms, ledger_cpu = timed(lambda: [ledger.append("bench", {"i": i}) for i in range(samples)], samples)
    many_ms, _ = timed(lambda: [ledger.append_many("bench", [{"i": i}] * 16) for i in range(samples // 16)],
                       16 * (samples // 16))
    result.update(ledger_append_ms=round(ledger_ms, 2), ledger_append_cpu_ms=round(ledger_cpu, 2),
                  ledger_append_many16_ms_per_record=round(many_ms, 2))
    return result


# ---------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per load phase (default 60)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--upload-mb", type=int, default=100)
    parser.add_argument("--uploads", type=int, default=2)
    parser.add_argument("--no-attribution", action="store_true", help="skip the in-process timing of the parts")
    parser.add_argument("--prompt-set", choices=("fixed", "vbench"), default="vbench",
                        help="vbench (default): the 1717 distinct VBench prompts, shuffled once, in turn "
                             "(varied length, some with names, so spaCy NER runs; a prompt recurs after 1716 others); "
                             "fixed: the 16 short prompts above, in turn (the default before 2026-11-24 11:30 UTC; "
                             "cheaper per prompt, so its figures are not comparable)")
    parser.add_argument("--skip-baselines", action="store_true", help="skip the /healthz and API-layer phases")
    parser.add_argument("--rate", type=float, action="append",
                        help="offered-load phase instead of the closed loop: the clients together send this many "
                             "prompt checks per second on a fixed schedule (open loop, wrk2-style; repeatable)")
    parser.add_argument("--closed-loop-too", action="store_true",
                        help="with --rate: run the saturating closed-loop phase as well, first")
    args = parser.parse_args()
    prompt_texts = PROMPTS if args.prompt_set == "fixed" else vbench_prompts()

    home = tempfile.mkdtemp(prefix="videoguard-bench-")
    os.environ["VIDEOGUARD_HOME"] = home
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The MiniLM ONNX export is derived from the bundled weights: build it once, not in every temporary home.
    from platformdirs import user_cache_dir

    os.environ.setdefault("VIDEOGUARD_MODEL_CACHE", user_cache_dir("videoguard", appauthor=False))
    from guard.api.keys import KeyStore

    _, key = KeyStore().create(["moderate"], name="bench", rate_per_s=1e6)
    _, generate_key = KeyStore().create(["generate"], name="bench-generate", rate_per_s=1e6)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "guard.cli", "serve", "--port", str(port)],
                              env={**os.environ, "VIDEOGUARD_LOG_LEVEL": "WARNING"}, stderr=subprocess.DEVNULL)
    try:
        for _ in range(900):
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("server did not become ready")
        for _ in range(600):  # readyz turns 200 before the generator is built: wait for it, so no phase shares
            ready = httpx.get(f"{url}/readyz", timeout=60).json()  # the CPU with the model loading
            if all(s["state"] != "not_loaded" for s in ready["stages"]):
                break
            time.sleep(0.5)
        warm = [httpx.post(f"{url}/v1/prompts/check", json={"prompt": p}, headers={"X-API-Key": key},
                           timeout=300).json() for p in PROMPTS]  # the generator may still be loading: be patient
        decisions = sorted({w["decision"] for w in warm})
        print(json.dumps({"stages": {s["name"]: s["state"] for s in ready["stages"]}, "warm_decisions": decisions}))

        baseline = None
        if not args.skip_baselines:
            baseline = asyncio.run(_load(port, args.clients, args.duration, lambda i: _get("/healthz")))
            print(json.dumps({"phase": "baseline GET /healthz", **baseline, "load": os.getloadavg()[0]}))
            auth_path = asyncio.run(_load(port, args.clients, args.duration,
                                          lambda i: _get("/v1/generations/" + "0" * 32, generate_key), expect=404))
            print(json.dumps({"phase": "API layer alone: auth + rate limit + problem document (GET unknown job, 404)",
                              **auth_path, "load": os.getloadavg()[0]}))
        server_process, client_process = psutil.Process(server.pid), psutil.Process()

        def check_request(i: int) -> bytes:
            return _post("/v1/prompts/check", key, {"prompt": prompt_texts[i % len(prompt_texts)]})

        def measured(run: object) -> dict:
            """``run()``'s figures plus the server's and this load generator's CPU use (same 2 cores)."""
            server_cpu, client_cpu = _cpu_s(server_process, children=True), _cpu_s(client_process)
            start = time.perf_counter()
            loop_cpu = _thread_cpu_s(server_process, server.pid)
            result: dict = run()  # type: ignore[operator]
            wall = time.perf_counter() - start
            server_cpu = _cpu_s(server_process, children=True) - server_cpu
            client_cpu = _cpu_s(client_process) - client_cpu
            loop_cpu = _thread_cpu_s(server_process, server.pid) - loop_cpu
            result["server_cpu_ms_per_request"] = round(server_cpu * 1000 / max(result["requests"], 1), 2)
            # The server's main thread runs the event loop (HTTP, routing, auth, responses); the rest is the CPU
            # workers (prompt gate, ledger). One thread: past ~1 core busy it queues every request.
            result["server_event_loop_cpu_ms_per_request"] = round(loop_cpu * 1000 / max(result["requests"], 1), 2)
            result["server_cpu_cores_busy"] = round(server_cpu / wall, 2)
            result["load_generator_cpu_cores_busy"] = round(client_cpu / wall, 2)
            result["load"] = os.getloadavg()[0]
            return result

        phases = []
        if args.rate is None or args.closed_loop_too:
            checks = measured(lambda: asyncio.run(_load(port, args.clients, args.duration, check_request)))
            phases.append(("closed loop: every client sends again as soon as answered", checks))
            print(json.dumps({"phase": f"POST /v1/prompts/check ({args.prompt_set} prompts, {args.clients} clients, "
                                       "closed loop)", **checks}))
            if baseline:
                print(json.dumps({"phase": "ratios vs baseline", "rps": round(checks["rps"] / baseline["rps"], 3),
                                  "p99": round(checks["p99_ms"] / baseline["p99_ms"], 2) if baseline["p99_ms"]
                                  else None}))
        for rate in args.rate or []:
            offered = measured(lambda rate=rate: asyncio.run(_offered_load(port, args.clients, args.duration, rate,
                                                                            check_request)))
            phases.append((f"offered load {rate:g} req/s (open loop, latency from the scheduled send time)", offered))
            print(json.dumps({"phase": f"POST /v1/prompts/check ({args.prompt_set} prompts, {args.clients} "
                                       f"connections, offered {rate:g} req/s, open loop)", **offered}))
        for name, result in phases:
            print(json.dumps({"phase": f"targets, {name}", "rps>=200": result["rps"] >= 200,
                              "p99<=50ms": result["p99_ms"] is not None and result["p99_ms"] <= 50,
                              "zero_errors": result["errors"] == 0}))
        if not args.no_attribution:
            print(json.dumps({"phase": "in-process attribution (same run)", **attribute()}))
        for upload in upload_rss(url, key, server.pid, args.upload_mb, args.uploads):
            print(json.dumps({"phase": f"stream {args.upload_mb} MB to /v1/videos/verify", **upload,
                              "target_rss_growth<=50MB": upload["rss_growth_mb"] <= 50}))
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
