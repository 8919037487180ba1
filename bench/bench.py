#!/usr/bin/env python3
"""Stardust's benchmark suite: Stardust beside node, LuaJIT + luv and the limit server.

Run it through bench/run (which builds and installs what it needs). Every case runs
each peer back to back, several times; figures are min/median/max over the runs, and
ratios are taken run by run (Stardust's run i against node's run i) before their
median. Results go to bench/results/<date>.md and .png, and (for a full run of every
case) to latest.md/.png.

All traffic goes to 127.0.0.1. Every server is started by this script and killed on
exit, error or Ctrl-C.
"""

import argparse
import atexit
import datetime
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
STARDUST = ROOT / "target" / "release" / "stardust"
LIMIT = BENCH / "limit" / "target" / "release" / "limit"
RESULTS = BENCH / "results"

# Historical context from the luvit talk (256 MB VM, ab -n 20000 -c 20).
SEED_HISTORY = {"luvit": (4100, 3.09), "node": (4900, 51.99)}

TARGETS = [
    ("hello-node-style", "req/s vs node", ">= 2.2x"),
    ("hello-node-style", "CPU/request vs limit", "<= 1.2x"),
    ("hello-http-server", "req/s vs node", ">= 2.4x"),
    ("seed", "peak RSS", "<= 3.0 MB"),
    ("startup", "wall time", "<= 5 ms"),
    ("idle-conns", "RSS per connection", "<= 3 KB"),
    ("timers", "1M timers, CPU time", "<= 0.5 s"),
    ("tls", "req/s vs node", ">= 2x"),
    ("soak", "RSS growth after the first million", "<= 5%"),
    ("http-client", "req/s vs node's http.request", ">= 2x"),
]

# ---------------------------------------------------------------------------------
# Parsing the load generators' output (tested in bench/test_bench.py)


def _ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(text):
    """wrk --latency output -> {'rps', 'p99_ms', 'requests', 'errors'}."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    reqs = re.search(r"(\d+) requests in", text)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if not rps or not reqs:
        raise ValueError("not wrk output:\n" + text)
    n_err = sum(int(x) for x in errors.groups()) if errors else 0
    n_err += int(non2xx.group(1)) if non2xx else 0
    return {
        "rps": float(rps.group(1)),
        "requests": int(reqs.group(1)),
        "p99_ms": _ms(*p99.groups()) if p99 else None,
        "errors": n_err,
    }


def parse_ab(text):
    """ab output -> {'rps', 'complete', 'failed', 'keepalive'}."""
    def field(name, cast=int):
        m = re.search(r"^" + re.escape(name) + r":?\s+([\d.]+)", text, re.M)
        return cast(m.group(1)) if m else None

    rps = field("Requests per second", float)
    if rps is None:
        raise ValueError("not ab output:\n" + text)
    return {
        "rps": rps,
        "complete": field("Complete requests"),
        "failed": field("Failed requests"),
        "keepalive": field("Keep-Alive requests"),
    }


# What GNU time prints last with -f "%M %U %S": peak RSS (KB), user and system seconds.
TIME_FORMAT = "%M %U %S"


def parse_time(stderr):
    """GNU time's last line -> {'peak_rss_kb', 'cpu_ms'} (the command's own stderr may
    come before it)."""
    lines = stderr.strip().splitlines()
    fields = lines[-1].split() if lines else []
    if len(fields) != 3:
        raise ValueError(f"not GNU time output: {stderr[-200:]!r}")
    rss, user, system = fields
    return {"peak_rss_kb": int(rss), "cpu_ms": (float(user) + float(system)) * 1000}


def parse_kv(text):
    """'a=1 b=2.5' lines -> {'a': 1.0, 'b': 2.5}."""
    return {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", text)}


def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return (min(values), statistics.median(values), max(values))


# ---------------------------------------------------------------------------------
# Processes

RUNNING = []


def _cleanup(*_):
    for p in list(RUNNING):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    RUNNING.clear()


atexit.register(_cleanup)
for _sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_sig, lambda s, f: (_cleanup(), sys.exit(130)))


def status_kb(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def parse_smaps_libs(text):
    """KB of a process's resident pages that belong to shared libraries (*.so*), from
    /proc/<pid>/smaps: the part of RssFile that is not the program's own binary."""
    total, in_lib = 0, False
    for line in text.splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
            path = head[5] if len(head) >= 6 else ""
            in_lib = ".so" in path.rsplit("/", 1)[-1]
        elif in_lib and line.startswith("Rss:"):
            total += int(head[1])
    return total


def libs_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps") as f:
            return parse_smaps_libs(f.read())
    except OSError:  # gone, or not ours
        return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 65536) if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))


def port_in_use(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class Server:
    """A server process, started in its own process group and always killed."""

    def __init__(self, cmd, port):
        self.cmd, self.port = cmd, port

    def __enter__(self):
        # A server left on the port (by a run killed with SIGKILL, or by hand) would
        # answer in this one's place, and be measured as it.
        if port_in_use(self.port):
            raise RuntimeError(f"port {self.port} is already in use by another process: "
                               f"stop it and run again (ss -ltnp | grep :{self.port})")
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda: (os.setsid(), raise_nofile()), cwd=ROOT)
        RUNNING.append(self.proc)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.cmd} exited early")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{self.cmd} did not listen on {self.port}")
        time.sleep(0.2)
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.cmd} exited early")
        self.idle_rss = status_kb(self.proc.pid, "VmRSS")
        return self

    def __exit__(self, *exc):
        _cleanup_one(self.proc)


def _cleanup_one(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    if proc in RUNNING:
        RUNNING.remove(proc)


def run(cmd, timeout=600, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kw)


# ---------------------------------------------------------------------------------
# Peers

def server_peers(kind):
    """(name, command, port) for the hello cases."""
    stardust = {
        "node-style": [str(STARDUST), "examples/http-server.lua"],
        "http-server": [str(STARDUST), str(PEERS / "stardust-lilush-hello.lua"), "8085"],
    }[kind]
    port = 8080 if kind == "node-style" else 8085
    return [
        ("stardust", stardust, port),
        ("node", ["node", str(PEERS / "node-hello.js"), "8081"], 8081),
        ("luajit+luv", ["luajit", str(PEERS / "luv-hello.lua"), "8084"], 8084),
        ("limit", [str(LIMIT), "8082"], 8082),
    ]


def load_server(cmd, port, load):
    """Starts the server, runs the load command (with {url}), returns the figures."""
    with Server(cmd, port) as s:
        cpu0 = cpu_seconds(s.proc.pid)
        out = run([a.replace("{url}", f"http://127.0.0.1:{port}/").replace("{tls_url}", f"https://127.0.0.1:{port}/")
                   for a in load])
        cpu1 = cpu_seconds(s.proc.pid)
        text = out.stdout + out.stderr
        figures = parse_ab(text) if load[0] == "ab" else parse_wrk(text)
        n = figures.get("requests") or figures.get("complete") or 1
        figures["cpu_us"] = (cpu1 - cpu0) * 1e6 / max(n, 1)
        figures["idle_rss_kb"] = s.idle_rss
        figures["peak_rss_kb"] = status_kb(s.proc.pid, "VmHWM")
        # What the RSS is made of at the end: pages of files (the binary's and the
        # libraries' code) and private memory.
        figures["file_rss_kb"] = status_kb(s.proc.pid, "RssFile")
        figures["anon_rss_kb"] = status_kb(s.proc.pid, "RssAnon")
        figures["lib_rss_kb"] = libs_kb(s.proc.pid)
        return figures


def server_case(peers, load, runs, progress):
    """Runs every peer `runs` times, interleaved. Returns {peer: [figures per run]}."""
    results = {name: [] for name, _, _ in peers}
    for i in range(runs):
        for name, cmd, port in peers:
            progress(f"run {i + 1}/{runs}: {name}")
            try:
                results[name].append(load_server(cmd, port, load))
            except Exception as e:  # a missing peer is reported, not fatal
                results[name].append({"error": str(e).splitlines()[0][:120]})
    return results


# ---------------------------------------------------------------------------------
# Cases


def case_hello(kind, quick, progress):
    secs = "2s" if quick else "10s"
    runs = 3
    tables = {}
    # The issue asks for -c20 and -c100 for the node-style hello, -c20 for http.server.
    conns = [20] if quick or kind == "http-server" else [20, 100]
    for c in conns:
        load = ["wrk", "-t1", f"-c{c}", f"-d{secs}", "--latency", "{url}"]
        tables[f"wrk -t1 -c{c} -d{secs}"] = server_case(server_peers(kind), load, runs, progress)
    return tables


def case_seed(quick, progress):
    peers = server_peers("node-style")
    n = "5000" if quick else "20000"
    tables = {}
    for keep in (False, True):
        load = ["ab", "-q", "-n", n, "-c", "20"] + (["-k"] if keep else []) + ["{url}"]
        tables[f"ab -n {n} -c 20{' -k' if keep else ''}"] = server_case(peers, load, 3, progress)
    return tables


def case_gzip(quick, progress):
    secs = "2s" if quick else "10s"
    peers = [
        ("stardust", [str(STARDUST), str(PEERS / "stardust-gzip.lua"), "8086"], 8086),
        ("node", ["node", str(PEERS / "node-gzip.js"), "8087"], 8087),
    ]
    load = ["wrk", "-t1", "-c20", f"-d{secs}", "--latency", "-H", "Accept-Encoding: gzip", "{url}"]
    return {f"64 KiB JSON, gzip, wrk -t1 -c20 -d{secs}": server_case(peers, load, 3, progress)}


def case_startup(quick, progress):
    n = 20 if quick else 100
    cmds = [
        ("stardust", [str(STARDUST), "-e", ""]),
        ("node", ["node", "-e", ""]),
        ("luajit", ["luajit", "-e", ""]),
    ]
    rows = {}
    for name, cmd in cmds:
        progress(f"{name} x{n}")
        walls, peaks = [], []
        for _ in range(n):
            # Wall time of the bare command (process spawn included, no wrapper), then
            # its peak RSS from GNU time in a separate run.
            t0 = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            walls.append((time.perf_counter() - t0) * 1000)
            out = run(["/usr/bin/time", "-f", TIME_FORMAT] + cmd)
            peaks.append(parse_time(out.stderr)["peak_rss_kb"])
        rows[name] = [{"wall_ms": w, "peak_rss_kb": p} for w, p in zip(walls, peaks)]
    return {f"{n} runs each": rows}


def case_idle_conns(quick, progress):
    n = 2000 if quick else 10000
    rows = {}
    for name, cmd, port in server_peers("node-style"):
        progress(f"{name}: {n} idle keep-alive connections")
        raise_nofile()
        with Server(cmd, port) as s:
            before = status_kb(s.proc.pid, "VmRSS")
            socks = []
            try:
                for _ in range(n):
                    c = socket.create_connection(("127.0.0.1", port))
                    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    socks.append(c)
                for c in socks:
                    c.settimeout(10)
                    c.recv(4096)
                time.sleep(0.5)
                after = status_kb(s.proc.pid, "VmRSS")
            finally:
                for c in socks:
                    c.close()
        rows[name] = [{"conns": n, "rss_before_kb": before, "rss_after_kb": after,
                       "per_conn_bytes": (after - before) * 1024 / n}]
    return {f"{n} connections": rows}


def case_timers(quick, progress):
    n = "200000" if quick else "1000000"
    rows = {}
    for name, cmd in [("stardust", [str(STARDUST), str(BENCH / "lua" / "timers.lua"), n]),
                      ("node", ["node", str(PEERS / "node-timers.js"), n])]:
        rows[name] = []
        for i in range(3):
            progress(f"{name} run {i + 1}/3")
            out = run(["/usr/bin/time", "-f", TIME_FORMAT] + cmd)
            kv = parse_kv(out.stdout)
            kv.update(parse_time(out.stderr))
            rows[name].append(kv)
    return {f"{n} timers, random delays up to 1 s": rows}


def case_json(quick, progress):
    r = "10" if quick else "100"
    rows = {}
    for name, cmd in [("stardust", [str(STARDUST), str(PEERS / "json-bench.lua"), r]),
                      ("node", ["node", str(PEERS / "node-json.js"), r]),
                      ("luajit+cjson", ["luajit", str(PEERS / "json-bench.lua"), r])]:
        rows[name] = []
        for i in range(3):
            progress(f"{name} run {i + 1}/3")
            out = run(cmd)
            rows[name].append(parse_kv(out.stdout) or {"error": (out.stderr or "no output").splitlines()[-1][:120]})
    return {f"encode + decode a ~1 MB document x{r}": rows}


def case_tls(quick, progress):
    secs = "2s" if quick else "10s"
    peers = [
        ("stardust", [str(STARDUST), str(PEERS / "stardust-https.lua"), "8444"], 8444),
        ("node", ["node", str(PEERS / "node-https.js"), "8443"], 8443),
    ]
    load = ["wrk", "-t1", "-c20", f"-d{secs}", "--latency", "{url}"]
    tables = {}
    rows = server_case([(n, c, p) for n, c, p in peers], [a if a != "{url}" else "{tls_url}" for a in load], 3, progress)
    tables[f"https hello, keep-alive, wrk -t1 -c20 -d{secs}"] = rows
    return tables


def case_soak(quick, progress):
    """Keep-alive requests to the node-style hello in ten equal steps, RSS after each:
    memory that grows with the requests served (a leak) shows as growth after the
    first step."""
    step = 100_000 if quick else 1_000_000
    steps = 10
    rows = {}
    for name, cmd, port in server_peers("node-style"):
        if name not in ("stardust", "node"):
            continue
        with Server(cmd, port) as s:
            samples = []
            for i in range(steps):
                progress(f"{name}: {(i + 1) * step:,} of {steps * step:,} requests")
                run(["ab", "-q", "-k", "-n", str(step), "-c", "20", f"http://127.0.0.1:{port}/"],
                    timeout=1800)
                samples.append(status_kb(s.proc.pid, "VmRSS"))
        first, last = samples[0], samples[-1]
        rows[name] = [{"rss_first_kb": first, "rss_last_kb": last,
                       "rss_max_kb": max(samples),
                       "growth_pct": (max(samples) - first) * 100.0 / first,
                       "samples_kb": samples}]
    return {f"{steps * step:,} keep-alive requests (ab -k -c 20), RSS after each {step:,}": rows}


def case_http_client(quick, progress):
    """HTTP clients against the limit server: N keep-alive GETs, 20 in flight; the
    CPU per request is the client's own (its process's user + system time)."""
    n = "20000" if quick else "100000"
    port = 8089
    clients = [
        ("stardust", [str(STARDUST), str(PEERS / "stardust-http-client.lua"), str(port), n, "20"]),
        ("node", ["node", str(PEERS / "node-http-client.js"), str(port), n, "20", "request"]),
        ("node fetch", ["node", str(PEERS / "node-http-client.js"), str(port), n, "20", "fetch"]),
    ]
    rows = {name: [] for name, _ in clients}
    with Server([str(LIMIT), str(port)], port):
        for i in range(3):
            for name, cmd in clients:
                progress(f"run {i + 1}/3: {name}")
                out = run(["/usr/bin/time", "-f", TIME_FORMAT] + cmd, timeout=900)
                kv = parse_kv(out.stdout)
                if not kv.get("requests"):
                    rows[name].append({"error": (out.stderr or "no output").splitlines()[-1][:120]})
                    continue
                t = parse_time(out.stderr)
                kv["cpu_us"] = t.get("cpu_ms", 0) * 1000 / kv["requests"]
                kv["peak_rss_kb"] = t.get("peak_rss_kb")
                rows[name].append(kv)
    return {f"{n} keep-alive GETs to the limit server, 20 in flight": rows}


# Why a server case runs fewer than the four peers.
CASE_NOTES = {
    "tls": "Stardust and node only, with the same certificate (the issue's peer for this "
           "case): Debian's lua-luv has no TLS, and the limit server speaks plain TCP.",
    "gzip": "Stardust and node only (the issue's peer for this case): the body is a "
            "64 KiB JSON document compressed per request, which the canned-response "
            "peers do not do.",
}

CASES = {
    "hello-node-style": lambda q, p: case_hello("node-style", q, p),
    "seed": case_seed,
    "hello-http-server": lambda q, p: case_hello("http-server", q, p),
    "tls": case_tls,
    "gzip": case_gzip,
    "startup": case_startup,
    "idle-conns": case_idle_conns,
    "timers": case_timers,
    "json": case_json,
    "soak": case_soak,
    "http-client": case_http_client,
}

# ---------------------------------------------------------------------------------
# Report


def fmt(s, unit="", digits=0):
    if s is None:
        return "-"
    lo, med, hi = s
    f = f"{{:.{digits}f}}"
    return f"{f.format(med)}{unit} ({f.format(lo)}–{f.format(hi)})"


def ratio(rows, a, b, key):
    """Median of run-by-run ratios a/b for `key`."""
    xs = [ra.get(key) / rb.get(key) for ra, rb in zip(rows.get(a, []), rows.get(b, []))
          if ra.get(key) and rb.get(key)]
    return spread(xs)


COLUMNS = [
    ("rps", "req/s", "", 0),
    ("p99_ms", "p99", " ms", 2),
    ("cpu_us", "CPU/req", " µs", 1),
    ("idle_rss_kb", "idle RSS", " KB", 0),
    ("peak_rss_kb", "peak RSS", " KB", 0),
    ("file_rss_kb", "of it: files", " KB", 0),
    ("anon_rss_kb", "of it: private", " KB", 0),
    ("lib_rss_kb", "of files: shared libraries", " KB", 0),
    ("wall_ms", "wall", " ms", 2),
    ("total_ms", "total", " ms", 1),
    ("schedule_ms", "schedule", " ms", 1),
    ("cpu_ms", "CPU", " ms", 0),
    ("per_conn_bytes", "RSS/conn", " B", 0),
    ("rss_first_kb", "RSS after the first step", " KB", 0),
    ("rss_max_kb", "highest RSS after it", " KB", 0),
    ("growth_pct", "growth", "%", 1),
]


def table_md(title, rows):
    cols = [c for c in COLUMNS if any(r.get(c[0]) is not None for runs in rows.values() for r in runs)]
    if not cols:
        out = [f"**{title}**", "", "| peer | status |", "|---|---|"]
        out += [f"| {peer} | {runs[0].get('error', '-')} |" for peer, runs in rows.items()]
        return "\n".join(out)
    out = [f"**{title}**", "", "| peer | " + " | ".join(c[1] for c in cols) + " |",
           "|---|" + "---|" * len(cols)]
    for peer, runs in rows.items():
        errs = [r["error"] for r in runs if "error" in r]
        if errs and len(errs) == len(runs):
            out.append(f"| {peer} | " + errs[0] + " |" + " |" * (len(cols) - 1))
            continue
        cells = [fmt(spread([r.get(k) for r in runs]), unit, d) for k, _, unit, d in cols]
        out.append(f"| {peer} | " + " | ".join(cells) + " |")
    ratios = []
    for key, label in (("rps", "req/s"), ("cpu_us", "CPU/req"), ("peak_rss_kb", "peak RSS"),
                       ("total_ms", "time"), ("cpu_ms", "CPU"), ("wall_ms", "wall time")):
        for other in ("node", "limit", "luajit+luv", "luajit+cjson", "luajit"):
            r = ratio(rows, "stardust", other, key)
            if r:
                ratios.append(f"{label} stardust/{other} = {r[1]:.2f}x ({r[0]:.2f}–{r[2]:.2f})")
    if ratios:
        out += ["", "Ratios, run by run: " + "; ".join(ratios) + "."]
    for peer, runs in rows.items():
        for r in runs:
            if r.get("samples_kb"):
                out += ["", f"{peer}, RSS after each step (KB): " + ", ".join(str(x) for x in r["samples_kb"])]
    return "\n".join(out)


def plot(results, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    groups = []
    for case, tables in results.items():
        for title, rows in tables.items():
            if any("rps" in r for runs in rows.values() for r in runs):
                groups.append((f"{case}\n{title}", rows))
    if not groups:
        return False
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 2.6 * len(groups)), 9))
    peers = sorted({p for _, rows in groups for p in rows})
    width = 0.8 / max(len(peers), 1)
    for ax, key, label in ((axes[0], "rps", "requests per second (median)"),
                           (axes[1], "peak_rss_kb", "peak RSS, KB (median)")):
        for j, peer in enumerate(peers):
            xs, ys = [], []
            for i, (_, rows) in enumerate(groups):
                s = spread([r.get(key) for r in rows.get(peer, [])])
                if s:
                    xs.append(i + j * width)
                    ys.append(s[1])
            ax.bar(xs, ys, width, label=peer)
        ax.set_xticks([i + width * (len(peers) - 1) / 2 for i in range(len(groups))])
        ax.set_xticklabels([g[0] for g in groups], fontsize=8)
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
        if key == "peak_rss_kb":
            ax.set_yscale("log")
    fig.suptitle("Stardust vs node, LuaJIT+luv and the limit server (127.0.0.1, one machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def targets_md(results):
    lines = ["| case | figure | target | measured | met? |", "|---|---|---|---|---|"]

    def first(case):
        tables = results.get(case)
        return next(iter(tables.values())) if tables else None

    for case, figure, target in TARGETS:
        rows = first(case)
        measured, met = "not run", "-"
        if rows:
            try:
                if case in ("hello-node-style", "hello-http-server") and "vs node" in figure:
                    r = ratio(rows, "stardust", "node", "rps")
                    measured, met = f"{r[1]:.2f}x", r[1] >= float(target.split()[1][:-1])
                elif "vs limit" in figure:
                    r = ratio(rows, "stardust", "limit", "cpu_us")
                    measured, met = f"{r[1]:.2f}x", r[1] <= 1.2
                elif case == "seed":
                    tables = results[case]
                    peak = max(spread([x.get("peak_rss_kb") for x in t["stardust"]])[1] for t in tables.values())
                    measured, met = f"{peak / 1024:.2f} MB", peak / 1024 <= 3.0
                elif case == "startup":
                    w = spread([x["wall_ms"] for x in rows["stardust"]])[1]
                    measured, met = f"{w:.2f} ms", w <= 5
                elif case == "idle-conns":
                    b = rows["stardust"][0]["per_conn_bytes"]
                    measured, met = f"{b / 1024:.2f} KB", b <= 3 * 1024
                elif case == "timers":
                    t = spread([x["cpu_ms"] for x in rows["stardust"]])[1]
                    n = next(iter(results[case]))
                    measured = f"{t / 1000:.2f} s ({n.split()[0]} timers)"
                    met = t <= 500 if n.startswith("1000000") else "n/a (quick)"
                elif case == "tls":
                    r = ratio(rows, "stardust", "node", "rps")
                    measured, met = f"{r[1]:.2f}x", r[1] >= 2
                elif case == "http-client":
                    r = ratio(rows, "stardust", "node", "rps")
                    measured, met = f"{r[1]:.2f}x", r[1] >= 2
                elif case == "soak":
                    g = rows["stardust"][0]["growth_pct"]
                    n = next(iter(results[case]))
                    measured = f"{g:.1f}% ({n.split()[0]} requests)"
                    met = g <= 5 if n.startswith("10,000,000") else "n/a (quick)"
            except Exception as e:  # a peer that failed leaves the figure empty
                measured = f"n/a ({e.__class__.__name__})"
        mark = {True: "yes", False: "**no**"}.get(met, met)
        lines.append(f"| {case} | {figure} | {target} | {measured} | {mark} |")
    # What the machine allows: the limit server's own req/s against node's, in the
    # same runs. A req/s target above it is out of reach for any server here.
    ceilings = []
    for case in ("hello-node-style", "hello-http-server"):
        rows = first(case)
        r = rows and rows.get("limit") and rows.get("node") and ratio(rows, "limit", "node", "rps")
        if r:
            ceilings.append(f"- {case}: the limit server served {r[1]:.2f}x node's req/s "
                            f"({r[0]:.2f}-{r[2]:.2f}x, run by run).")
    if ceilings:
        lines += ["", "For scale: the load generator shares the machine's two cores, so req/s is "
                  "bounded by what one event-loop thread can serve here, which the limit server "
                  "measures. A req/s target above its ratio to node cannot be met on this machine."]
        lines += ceilings
    # What memory the machine allows: the pages of the shared libraries (glibc and its
    # kin) that Stardust had resident, which any program linked to them has too; the
    # static build maps none.
    seed = results.get("seed")
    if seed:
        libs = [x.get("lib_rss_kb") for t in seed.values() for x in t.get("stardust", [])
                if x.get("lib_rss_kb")]
        if libs:
            lo, med, hi = spread(libs)
            lines += ["", f"For scale (memory): {med / 1024:.2f} MB ({lo / 1024:.2f}-{hi / 1024:.2f}) "
                      "of Stardust's RSS in the seed case were pages of the shared libraries "
                      "(libc and ld.so), which every program linked to them maps here; the 3.0 MB "
                      "target leaves the rest for the binary's pages and all private memory."]
        else:
            lines += ["", "For scale (memory): Stardust maps no shared library (glibc is linked "
                      "into its binary: docs/memory.md), so its RSS in the seed case is its "
                      "binary's pages and its private memory."]
        # The other peers' peaks in the same runs: what a program with no Lua at all
        # (the limit server) and LuaJIT with luv (luvit's core) take here.
        others = []
        for peer, what in (("limit", "the limit server (Rust and mio, no Lua)"),
                           ("luajit+luv", "LuaJIT + luv (luvit's core)")):
            peaks = [x.get("peak_rss_kb") for t in seed.values() for x in t.get(peer, [])
                     if x.get("peak_rss_kb")]
            if peaks:
                lo, med, hi = spread(peaks)
                others.append(f"{what} {med / 1024:.2f} MB ({lo / 1024:.2f}-{hi / 1024:.2f})")
        if others:
            lines[-1] += " Peak RSS of the other peers in the same runs: " + "; ".join(others) + "."
    return "\n".join(lines)


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    node = run(["node", "--version"]).stdout.strip()
    return f"{os.cpu_count()} cores ({cpu}), node {node}, {run([str(STARDUST), '-v']).stdout.splitlines()[0]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs (about 2 minutes)")
    ap.add_argument("--only", action="append", choices=list(CASES), help="run only this case (repeatable)")
    args = ap.parse_args()

    chosen = args.only or list(CASES)
    started = time.time()
    results = {}
    for i, name in enumerate(chosen, 1):
        def progress(msg, name=name, i=i):
            print(f"[{time.time() - started:6.1f}s] {i}/{len(chosen)} {name}: {msg}", flush=True)
        progress("starting")
        results[name] = CASES[name](args.quick, progress)

    stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H%M")
    RESULTS.mkdir(parents=True, exist_ok=True)
    md = [f"# Stardust benchmark, {stamp}{' (quick)' if args.quick else ''}", "",
          f"Machine: {machine()}.", "",
          "The load generator shares the machine's cores with the server, so server CPU "
          "time per request (from /proc/<pid>/stat, utime+stime over the run, divided by "
          "the completed requests) is the fairest comparison. Figures are median (min–max) "
          "over the runs; ratios are computed run by run.", "",
          "Peak RSS is VmHWM, which counts the pages of the binary and of the shared "
          "libraries a process has touched as well as its private memory; the tables show "
          "both parts (RssFile and RssAnon, read when the load ends), and how much of the "
          "file pages were the shared libraries' (from /proc/<pid>/smaps). On this machine's "
          "kernel a touched page of a file maps at least the 64 KiB around it, so code size "
          "and layout weigh on the figure.", "",
          "The timers case's delays run up to 1 s, so its wall time cannot be under 1 s: "
          "its target applies to the process's CPU time (user+system), the work of "
          "scheduling and firing the timers. Wall time and scheduling time are shown beside "
          "it.", "",
          "## Targets", "", targets_md(results), ""]
    for name, tables in results.items():
        md += [f"## {name}", ""]
        if name == "seed":
            md += ["Historical, from the luvit talk (256 MB VM): " + ", ".join(
                f"{k} {v[0]} req/s at {v[1]} MB" for k, v in SEED_HISTORY.items()) + ".", ""]
        if name in CASE_NOTES:
            md += [CASE_NOTES[name], ""]
        for title, rows in tables.items():
            md += [table_md(title, rows), ""]
    md_path = RESULTS / f"{stamp}.md"
    md_path.write_text("\n".join(md))
    png_path = RESULTS / f"{stamp}.png"
    has_plot = plot(results, png_path)
    # latest.* (and so the README's table) is always a complete, full-length run.
    if not args.only and not args.quick:
        shutil.copy(md_path, RESULTS / "latest.md")
        if has_plot:
            shutil.copy(png_path, RESULTS / "latest.png")
    print(f"wrote {md_path}" + (f" and {png_path}" if has_plot else " (no plot: matplotlib missing)"))
    print("\n".join(md[:16]))


if __name__ == "__main__":
    main()
