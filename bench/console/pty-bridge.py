#!/usr/bin/env python3
"""Runs a command on a fresh pty and relays it over stdin/stdout, with backpressure both ways.

A stand-in for the agent's console holder in benches (node-pty is not installed here): the bench's
stand-in agent writes keyboard bytes to our stdin and reads terminal output from our stdout. When
nobody reads stdout we stop reading the pty, so the program on it blocks, as on a real terminal.
Keyboard input is never held behind output (Ctrl-C must get through a flood).

Window sizes arrive as "COLS ROWS\n" lines on fd 3 when it is open; the kernel then signals the
program (SIGWINCH), as a terminal emulator's resize would.

usage: pty-bridge.py COLS ROWS -- COMMAND [ARGS...]
"""
import errno
import fcntl
import os
import pty
import select
import struct
import sys
import termios


def main() -> int:
    cols, rows = int(sys.argv[1]), int(sys.argv[2])
    command = sys.argv[sys.argv.index("--") + 1 :]
    pid, master = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    for fd in (0, 1, master):
        os.set_blocking(fd, False)
    try:
        os.fstat(3)
        os.set_blocking(3, False)
        sizes = 3
    except OSError:
        sizes = None
    size_line = b""
    to_pty = bytearray()
    to_out = bytearray()
    stdin_open = True
    while True:
        readers = []
        writers = []
        if stdin_open and len(to_pty) < 65536:
            readers.append(0)
        if len(to_out) < 65536:
            readers.append(master)  # backpressure: stop reading output while stdout is full
        if sizes is not None:
            readers.append(sizes)
        if to_pty:
            writers.append(master)
        if to_out:
            writers.append(1)
        r, w, _ = select.select(readers, writers, [])
        if sizes is not None and sizes in r:
            data = os.read(sizes, 4096)
            if not data:
                sizes = None
            size_line += data
            while b"\n" in size_line:
                line, size_line = size_line.split(b"\n", 1)
                c, rw = (int(x) for x in line.split())
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rw, c, 0, 0))
        if 0 in r:
            data = os.read(0, 65536)
            if not data:
                stdin_open = False
            to_pty += data
        if master in w and to_pty:
            n = os.write(master, to_pty)
            del to_pty[:n]
        if master in r:
            try:
                data = os.read(master, 65536)
            except OSError as e:
                if e.errno == errno.EIO:  # the program exited
                    break
                raise
            if not data:
                break
            to_out += data
        if 1 in w and to_out:
            try:
                n = os.write(1, to_out)
            except BlockingIOError:
                n = 0
            del to_out[:n]
    os.set_blocking(1, True)
    os.write(1, bytes(to_out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
