#!/usr/bin/env python3
"""The floor of a real VM's console (bench B1f): a direct `tmux attach` to the VM's own tmux server,
as the VM's host user, on a pty read directly here. No panel, no agent, no WebSocket: what is left
is UML's console and tmux. The same echo as the console benches (alternating `a`/DEL, 3 ms apart,
send -> first output byte). Prints one JSON object.

The shell in the VM must already sit at a prompt (the bench logs in through the panel first). The
client attaches with `-f ignore-size`, as the agent's control client does, so the VM's console size
does not change under the other clients.

usage (as root): tmux-floor.py --user UID:GID --socket <vm>/run/tmux.sock --home <vm>/run [--keys 300]
"""
import argparse
import fcntl
import json
import os
import pty
import select
import signal
import struct
import termios
import time


def drain(fd, quiet=0.3, limit=5.0):
    """Reads until nothing came for `quiet` seconds (at most `limit`)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if not select.select([fd], [], [], quiet)[0]:
            return
        os.read(fd, 65536)


def read_until(fd, marker, timeout):
    tail = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        text = tail + os.read(fd, 65536)
        if marker in text:
            return
        tail = text[-64:]
    raise TimeoutError(f"no {marker!r} within {timeout} s")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--user", required=True, help="UID:GID of the VM's host user")
    p.add_argument("--socket", required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--keys", type=int, default=300)
    p.add_argument("--warmup", type=int, default=50)
    a = p.parse_args()
    uid, gid = a.user.split(":")
    pid, fd = pty.fork()
    if pid == 0:
        # Argument arrays only; the same user switch the agent uses (setpriv), no shell.
        argv = [
            "setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--",
            "tmux", "-S", a.socket, "attach-session", "-f", "ignore-size", "-t", "con",
        ]
        os.chdir(a.home)
        os.execvpe("setpriv", argv, {"PATH": "/usr/bin:/bin", "HOME": a.home, "TERM": "xterm-256color", "LANG": "C.UTF-8"})
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        drain(fd, 0.5, 10)  # tmux draws the screen on attach
        # The shell answers (output only: the marker is computed, its echo does not match).
        os.write(fd, b"\x15echo __RDY$((1+1))__\r")
        read_until(fd, b"__RDY2__", 20)
        drain(fd)
        lat = []
        for i in range(a.keys + a.warmup):
            t0 = time.perf_counter()
            os.write(fd, b"a" if i % 2 == 0 else b"\x7f")
            if select.select([fd], [], [], 5)[0]:
                os.read(fd, 65536)
            if i >= a.warmup:
                lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.003)
            # The rest of this key's redraw, so the next key's timing starts from a quiet pty.
            while select.select([fd], [], [], 0)[0]:
                os.read(fd, 65536)
        lat.sort()
        os.write(fd, b"\x15")
        print(json.dumps({
            "echoP50Ms": lat[len(lat) // 2],
            "echoP99Ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "keys": len(lat),
        }))
    finally:
        # Detach by ending our client (the VM's tmux server and the VM are not ours to stop).
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for _ in range(50):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
