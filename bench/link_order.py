#!/usr/bin/env python3
"""Writes src/link-order.txt: the functions Stardust's servers run, for the linker to
put first and together in the binary (build.rs passes the file to lld as
--symbol-ordering-file; docs/memory.md says why).

    python3 bench/link_order.py

It builds the release binary with its symbols (STARDUST_KEEP_SYMBOLS=1, in
target/link-order/, so the binary in target/release/ is left alone), runs each
workload below under valgrind's callgrind, and lists every function of the binary that
ran, workload by workload (sorted within each): the seed's server first, with every
function of LuaJIT's that ran in any workload, then what the later workloads add.
Run it again when a dependency or the compiler changes (their functions' names
change with them) or after large changes to the runtime; a stale list only costs
memory, never correctness. Needs valgrind and ab (apache2-utils). Every server it
starts listens on 127.0.0.1 and is killed when its workload ends.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "link-order"
BINARY = TARGET / "release" / "stardust"
OUT = ROOT / "src" / "link-order.txt"
PEERS = ROOT / "bench" / "peers"

# (name, server command after the binary, URL, load): each load is a list of ab
# argument lists, run one after the other against the server.
WORKLOADS = [
    ("seed: examples/http-server.lua", [str(ROOT / "examples" / "http-server.lua")],
     "http://127.0.0.1:8080/", [["-n", "2000", "-c", "20"], ["-k", "-n", "2000", "-c", "20"]]),
    ("http.server hello", [str(PEERS / "stardust-lilush-hello.lua"), "8085"],
     "http://127.0.0.1:8085/", [["-n", "1000", "-c", "10"], ["-k", "-n", "2000", "-c", "10"]]),
    ("https hello", [str(PEERS / "stardust-https.lua"), "8444"],
     "https://127.0.0.1:8444/", [["-n", "200", "-c", "10"], ["-k", "-n", "1000", "-c", "10"]]),
]

# A callgrind function line: "fn=(12) name" (or cfn= for a callee), where a name
# callgrind saw in a recursion gets a "'2" suffix.
FN_LINE = re.compile(r"^c?fn=\(\d+\) (.+?)(?:'\d+)?$")


def functions_in(callgrind_text):
    """The function names of a callgrind output, in the order they first appear."""
    seen = {}
    for line in callgrind_text.splitlines():
        m = FN_LINE.match(line)
        if m and m.group(1) not in seen:
            seen[m.group(1)] = True
    return list(seen)


def defined_functions(binary):
    """The names of the functions the binary defines (its symbol table)."""
    out = subprocess.run(["nm", "--defined-only", str(binary)], capture_output=True,
                         text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwWi":
            names.add(parts[2])
    return names


def luajit_functions():
    """The names of the functions LuaJIT's own archive defines (mlua-sys builds it)."""
    archives = sorted(TARGET.glob("release/build/mlua-sys-*/out/lib/libluajit.a"))
    if not archives:
        raise SystemExit("no libluajit.a under target/link-order/: did the build change?")
    out = subprocess.run(["nm", "--defined-only", str(archives[-1])], capture_output=True,
                         text=True, check=True).stdout
    return {parts[2] for parts in map(str.split, out.splitlines())
            if len(parts) == 3 and parts[1] in "tT"}


# Start-up code that runs in every process but that no workload names: the C
# run-time's (crt1.o's _start, crtbegin.o's frame_dummy, and in the static build
# glibc's __libc_start_main), which callgrind counts as "(below main)"; and, in the
# static build, what glibc's start-up does to find the vDSO's functions, which it
# does only where the kernel maps one, as valgrind does not (found with gdb: a
# breakpoint on every function of the binary outside the list, in `stardust -e ''`).
STARTUP = ["_start", "frame_dummy", "__libc_start_main", "__libc_start_call_main",
           "_dl_new_object", "_dl_add_to_namespace_list", "_dl_setup_hash",
           "_dl_lookup_symbol_x", "do_lookup_x", "check_match"]


def order(lists, defined):
    """One list: each workload's functions that the binary defines, those of earlier
    workloads first, each name once. Within a workload the names are sorted (the
    order callgrind saw them in varies from run to run; sorted, a new list differs
    from the old only where the functions do)."""
    seen, result = set(), []
    for names in lists:
        new = sorted({name for name in names if name in defined and name not in seen})
        seen.update(new)
        result += new
    return result


def luajit_with_the_first(lists, luajit):
    """The workloads' lists, with every LuaJIT function of the later ones added to the
    first. Which of LuaJIT's compiler functions run depends on the traces it happens
    to compile, and that differs from run to run of the same workload (a register
    spill, one more optimisation pass): a function that ran only in a later workload
    this time would otherwise be laid out with that workload's code, and a plain-HTTP
    server meeting it next time would fault in a 64 KiB block for it alone."""
    extra = [name for names in lists[1:] for name in names if name in luajit]
    return [lists[0] + extra] + lists[1:]


def wait_port(port, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited early ({proc.returncode})")
        if subprocess.run(["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"],
                          capture_output=True).returncode == 0:
            return
        time.sleep(0.2)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def run_workload(name, args, url, loads, outdir):
    print(f"-- {name}", flush=True)
    port = int(url.rsplit(":", 1)[1].strip("/"))
    out = Path(outdir) / f"cg.{port}"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--demangle=no", "--smc-check=all-non-file",
         f"--callgrind-out-file={out}", str(BINARY)] + args,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_port(port, proc)
        for load in loads:
            print(f"   ab {' '.join(load)}", flush=True)
            subprocess.run(["ab", "-q", "-s", "60"] + load + [url],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)
        # Callgrind writes its counts when asked (a killed program writes none).
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True,
                       timeout=120)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    texts = [p.read_text(errors="replace") for p in Path(outdir).glob(f"cg.{port}*")]
    names = []
    for text in texts:
        names += functions_in(text)
    return names


def main():
    env = dict(os.environ, STARDUST_KEEP_SYMBOLS="1")
    print("building the release binary with its symbols (target/link-order/)", flush=True)
    subprocess.run(["cargo", "build", "--release", "-q", "--target-dir", str(TARGET)],
                   cwd=ROOT, env=env, check=True)
    defined = defined_functions(BINARY)
    lists = []
    with tempfile.TemporaryDirectory() as outdir:
        for name, args, url, loads in WORKLOADS:
            lists.append(run_workload(name, args, url, loads, outdir))
    names = order([STARTUP] + luajit_with_the_first(lists, luajit_functions()), defined)
    if len(names) < 100:
        raise SystemExit(f"only {len(names)} functions ran: is the profile broken?")
    header = ("# The functions Stardust's servers run, first in .text (build.rs; "
              "docs/memory.md).\n# Made by bench/link_order.py: "
              + "; then ".join(w[0] for w in WORKLOADS) + ".\n")
    OUT.write_text(header + "\n".join(names) + "\n")
    print(f"{OUT.relative_to(ROOT)}: {len(names)} functions")


if __name__ == "__main__":
    sys.exit(main())
