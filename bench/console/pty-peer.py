#!/usr/bin/env python3
"""The raw-pty floor for the console benches: the same B1/B2/B3 as console-bench.ts, on bash on a
pty read directly (no relay). Prints one JSON object.

B3 here is the floor the notes describe: a consumer parsing at --parse-rate with kernel
backpressure (it reads only as fast as it parses, so the pty buffer is the whole queue).
"""
import argparse
import json
import os
import pty
import select
import signal
import struct
import fcntl
import termios
import time

PROMPT = b"__P__$ "


def spawn_shell():
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(
            "bash",
            ["bash", "--norc", "--noprofile", "-i"],
            {"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "PS1": PROMPT.decode(), "HOME": "/tmp", "LANG": "C.UTF-8"},
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    return pid, fd


def read_until(fd, marker, timeout=60.0, rate=None):
    """Reads until `marker` appears; returns bytes read. With `rate`, parses at that many bytes/s."""
    tail = b""
    total = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        data = os.read(fd, 65536)
        total += len(data)
        if rate:
            time.sleep(len(data) / rate)
        text = tail + data
        if marker in text:
            return total
        tail = text[-64:]
    raise TimeoutError(f"no {marker!r}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--keys", type=int, default=1000)
    p.add_argument("--mb", type=int, default=20)
    p.add_argument("--flood-seconds", type=float, default=2)
    p.add_argument("--parse-rate", type=float, default=5_000_000)
    a = p.parse_args()
    pid, fd = spawn_shell()
    try:
        read_until(fd, PROMPT, 10)
        # B1
        lat = []
        for i in range(a.keys + 50):
            t0 = time.perf_counter()
            os.write(fd, b"a" if i % 2 == 0 else b"\x7f")
            select.select([fd], [], [], 5)
            os.read(fd, 65536)
            if i >= 50:
                lat.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.003)
        lat.sort()
        # B2
        os.write(fd, b"\x15")  # clear the line
        time.sleep(0.05)
        os.read(fd, 65536)
        t0 = time.perf_counter()
        os.write(fd, f"head -c {a.mb * 1_000_000} /dev/zero | base64; echo __EN''D__\r".encode())
        n = read_until(fd, b"__END__", 120)
        mbps = n / 1e6 / (time.perf_counter() - t0)
        while select.select([fd], [], [], 0.2)[0]:  # the prompt may have come with the marker
            os.read(fd, 65536)
        # B3
        os.write(fd, b"yes\r")
        end = time.monotonic() + a.flood_seconds
        while time.monotonic() < end:
            data = os.read(fd, 65536)
            time.sleep(len(data) / a.parse_rate)
        t0 = time.perf_counter()
        os.write(fd, b"\x03")
        read_until(fd, PROMPT, 60, a.parse_rate)
        ctrl_c = (time.perf_counter() - t0) * 1000
        print(json.dumps({
            "echoP50Ms": lat[len(lat) // 2],
            "echoP99Ms": lat[min(len(lat) - 1, int(0.99 * len(lat)))],
            "linesMBps": mbps,
            "ctrlCMs": ctrl_c,
            # The floor's queue is the kernel's pty buffer, not in any process.
            "maxQueueBytes": 0,
        }))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    main()
