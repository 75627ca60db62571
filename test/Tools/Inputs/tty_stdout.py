#!/usr/bin/env python3
"""Run a command with its stdout on a pseudo-terminal (for lit RUN lines that test terminal checks).

  tty_stdout.py COMMAND [ARG...]

What the command writes to the terminal is copied to this script's stdout; stderr passes through.
Exits with the command's exit code.
"""

import os
import subprocess
import sys


def main(cmd):
    if not cmd:
        print(__doc__, file=sys.stderr)
        return 1
    master, slave = os.openpty()
    proc = subprocess.Popen(cmd, stdout=slave)
    os.close(slave)
    out = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer closed it
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    code = proc.wait()
    sys.stdout.buffer.write(bytes(out))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
