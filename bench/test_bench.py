#!/usr/bin/env python3
"""Checks that bench.py reads wrk and ab output correctly, from recorded samples.

Run by `cargo test` (tests/bench_parsers.rs); the bench itself is not."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402
import link_order  # noqa: E402

SAMPLES = Path(__file__).resolve().parent / "samples"


CHECKED = [0]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    CHECKED[0] += 1


def main():
    wrk = bench.parse_wrk((SAMPLES / "wrk-latency.txt").read_text())
    check(abs(wrk["rps"] - 43344.45) < 0.01, f"wrk rps {wrk}")
    check(wrk["requests"] == 435421, f"wrk requests {wrk}")
    check(abs(wrk["p99_ms"] - 1.49) < 1e-9, f"wrk p99 {wrk}")
    check(wrk["errors"] == 0, f"wrk errors {wrk}")

    wrk_us = bench.parse_wrk((SAMPLES / "wrk-errors.txt").read_text())
    check(abs(wrk_us["p99_ms"] - 0.851) < 1e-9, f"wrk p99 in us {wrk_us}")
    check(wrk_us["errors"] == 3 + 17, f"wrk socket errors + non-2xx {wrk_us}")

    ab = bench.parse_ab((SAMPLES / "ab-keepalive.txt").read_text())
    check(abs(ab["rps"] - 37568.70) < 0.01, f"ab rps {ab}")
    check(ab["complete"] == 20000 and ab["failed"] == 0 and ab["keepalive"] == 20000, f"ab {ab}")

    kv = bench.parse_kv("timers=1000000 schedule_ms=3560.6 total_ms=5949.6\n")
    check(kv == {"timers": 1e6, "schedule_ms": 3560.6, "total_ms": 5949.6}, f"kv {kv}")

    t = bench.parse_time("a warning from the command\n42664 0.22 0.03\n")
    check(t["peak_rss_kb"] == 42664 and abs(t["cpu_ms"] - 250.0) < 1e-6, f"time {t}")
    try:
        bench.parse_time("Command terminated by signal 9\n")
        raise AssertionError("parse_time accepted a signal message")
    except ValueError:
        pass

    for bad in ("", "garbage"):
        for parser in (bench.parse_wrk, bench.parse_ab):
            try:
                parser(bad)
            except ValueError:
                continue
            raise AssertionError(f"{parser.__name__} accepted {bad!r}")

    check(bench.spread([3, 1, 2]) == (1, 2, 3), "spread")
    rows = {"stardust": [{"rps": 20}, {"rps": 30}], "node": [{"rps": 10}, {"rps": 10}]}
    check(bench.ratio(rows, "stardust", "node", "rps") == (2.0, 2.5, 3.0), "run-by-run ratio")

    # The targets table says whether a target is met, and gives the limit server's
    # req/s against node's (the ceiling of the machine) under it.
    hello = {"stardust": [{"rps": 150, "cpu_us": 8}] * 3, "node": [{"rps": 100, "cpu_us": 16}] * 3,
             "limit": [{"rps": 200, "cpu_us": 6}] * 3}
    md = bench.targets_md({"hello-node-style": {"wrk": hello}})
    check("| hello-node-style | req/s vs node | >= 2.2x | 1.50x | **no** |" in md, f"targets row\n{md}")
    check("| hello-node-style | CPU/request vs limit | <= 1.2x | 1.33x | **no** |" in md, f"cpu row\n{md}")
    check("- hello-node-style: the limit server served 2.00x node's req/s (2.00-2.00x" in md,
          f"ceiling line\n{md}")
    check("hello-http-server: the limit" not in md, "no ceiling line for a case not run")
    # Resident pages of shared libraries, from smaps: the binary's and anonymous
    # mappings' pages are not counted.
    smaps = ("55e1-55e2 r-xp 00001000 fe:00 1 /work/target/release/stardust\nRss:  1500 kB\n"
             "7f01-7f02 r-xp 00028000 fe:00 2 /usr/lib/x86_64-linux-gnu/libc.so.6\nSize: 1 kB\n"
             "Rss:  1016 kB\nVmFlags: rd ex mr mw me sd\n"
             "7f03-7f04 rw-p 00000000 00:00 0 \nRss:  776 kB\n"
             "7f05-7f06 r--p 00000000 fe:00 3 /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2\n"
             "Rss:  212 kB\n")
    check(bench.parse_smaps_libs(smaps) == 1016 + 212, f"smaps libs {bench.parse_smaps_libs(smaps)}")
    seed = {"seed": {"ab": {"stardust": [{"peak_rss_kb": 4700, "lib_rss_kb": 1900}] * 3}}}
    check("For scale (memory): 1.86 MB" in bench.targets_md(seed), "memory floor line")

    # link_order.py: callgrind's function names (recursion suffixes dropped, each once,
    # in first-seen order), then one list of the binary's own functions, the first
    # workload's first.
    cg = ("fn=(1) main\ncfn=(2) lj_tab_new\ncalls=1 0\n5 10\nfn=(3) lj_BC_MOV'2\n"
          "fn=(2)\nfn=(4) memcpy\ncfn=(1)\n")
    names = link_order.functions_in(cg)
    check(names == ["main", "lj_tab_new", "lj_BC_MOV", "memcpy"], f"callgrind names {names}")
    merged = link_order.order([names, ["_ZN3foo17h0123E", "lj_tab_new"]],
                              {"main", "lj_tab_new", "lj_BC_MOV", "_ZN3foo17h0123E"})
    check(merged == ["lj_BC_MOV", "lj_tab_new", "main", "_ZN3foo17h0123E"], f"order {merged}")
    # LuaJIT's functions that ran in any workload are laid out with the first's.
    lists = link_order.luajit_with_the_first([["main"], ["ra_spill", "_ZN3foo17h0123E"]],
                                             {"ra_spill", "lj_tab_new"})
    check(lists == [["main", "ra_spill"], ["ra_spill", "_ZN3foo17h0123E"]],
          f"luajit first {lists}")
    # A server whose port another process holds is refused, rather than measured as
    # the process that answers there.
    import socket
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        with bench.Server([sys.executable, "-c", "import time; time.sleep(30)"], port):
            raise AssertionError("a server was started on a port in use")
    except RuntimeError as e:
        check("already in use" in str(e), f"port in use: {e}")
    finally:
        holder.close()
    check(not bench.RUNNING, "the refused server left a process")
    # (The first failed check raises, so every check counted here passed.)
    print(f"bench parsers: {CHECKED[0]} checks passed")


if __name__ == "__main__":
    main()
