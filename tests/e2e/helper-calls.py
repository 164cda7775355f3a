#!/usr/bin/python3
"""helper-calls.py TRACE [--attached NAME]: the mount helper's runs in an
`strace -f` log.

TRACE is strace output (-f, -e trace=execve,clone,clone3,fork,vfork,write,
writev,exit_group) of containerd and everything it started. Prints one line
per successful exec of a program named nydus-overlayfs, tab-separated:

    PATH  CHAIN  WRITES  EXIT

PATH is the binary that ran; CHAIN is every program exec'd by it and its
ancestors, outermost first, joined by " > ", with mount.fuse shown with its
-t argument (e.g. "... > containerd-shim-runc-v2 > mount.fuse -t
nydus-overlayfs > sh > nydus-overlayfs"); WRITES counts the write(2) and
writev(2) calls the helper made; EXIT is its exit status (exit_group's
argument, "?" if the trace does not show it). Nothing from the options is printed: they
carry credentials.

With --attached NAME, strace attached to a running program (-p) instead of
starting it: the trace shows no exec for it (nor for its threads at attach
time, the only processes with no parent in the trace), so a chain that
begins there begins with NAME.
"""

import re
import sys
from collections import defaultdict

LINE = re.compile(r"^(\d+) +(.*)$")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"(?:\.\.\.)?')
EXECVE = re.compile(r'^execve\("((?:[^"\\]|\\.)*)", \[(.*?)\], ')
EXIT = re.compile(r"^exit_group\((-?\d+)")
SPAWN = re.compile(r"^(?:clone3?|fork|vfork)\(|^<\.\.\. (?:clone3?|fork|vfork) resumed>")


def result_of(call):
    """A finished call's return value (None for an unfinished one)."""
    if " = " not in call:
        return None
    value = call.rsplit(" = ", 1)[1].split(" ", 1)[0]
    return int(value) if value.lstrip("-").isdigit() else None


def argv_of(listing):
    return [m.group(1) for m in QUOTED.finditer(listing)]


def main():
    attached = sys.argv[3] if sys.argv[2:3] == ["--attached"] else None
    parent = {}
    execs = defaultdict(list)  # pid -> [(path, argv)] in order
    pending = {}  # pid -> (path, argv) of an execve not yet returned
    writes = defaultdict(int)
    exits = {}
    with open(sys.argv[1], errors="replace") as trace:
        for line in trace:
            match = LINE.match(line.rstrip("\n"))
            if not match:
                continue
            pid, call = int(match.group(1)), match.group(2)
            execve = EXECVE.match(call)
            if execve:
                pending[pid] = (execve.group(1), argv_of(execve.group(2)))
            if execve or call.startswith("<... execve resumed>"):
                result = result_of(call)
                if result is not None and pid in pending:
                    if result == 0:
                        execs[pid].append(pending[pid])
                    del pending[pid]
                continue
            if SPAWN.match(call):
                child = result_of(call)
                if child is not None and child > 0:
                    parent[child] = pid
                continue
            exit_call = EXIT.match(call)
            if exit_call:
                exits[pid] = exit_call.group(1)
                continue
            if call.startswith(("write(", "writev(")):
                writes[pid] += 1

    for pid, runs in execs.items():
        for path, _ in runs:
            if path.rsplit("/", 1)[-1] != "nydus-overlayfs":
                continue
            lineage = []
            ancestor = pid
            while ancestor is not None:
                lineage[:0] = execs.get(ancestor, [])
                if attached and ancestor not in parent and ancestor not in execs:
                    lineage[:0] = [(attached, [attached])]
                ancestor = parent.get(ancestor)
            chain = " > ".join(describe(p, argv) for p, argv in lineage)
            print(f"{path}\t{chain}\t{writes[pid]}\t{exits.get(pid, '?')}")


def describe(path, argv):
    name = path.rsplit("/", 1)[-1]
    if name.startswith("mount.fuse") and "-t" in argv[:-1]:
        return f"{name} -t {argv[argv.index('-t') + 1]}"
    return name


if __name__ == "__main__":
    main()
