#!/usr/bin/env python3
"""Run a command and require a specific exit code (shell-independent, for lit RUN lines).

  expect_exit.py CODE [--absent PATH]... [--timeout S] -- COMMAND [ARG...]

Each --absent PATH is deleted before the command runs and must still not exist afterwards (a tool
that rejects its input must not leave a partial output behind).  The command's stdout/stderr are
passed through.  With --timeout, a command still running after S seconds is killed and counts as
a hang.  Exit code 0 when the command exited with CODE and no --absent path exists,
otherwise 1 with an `expect_exit: ...` message on stderr.
"""

import os
import subprocess
import sys


def main(argv):
    if "--" not in argv or not argv:
        print(__doc__, file=sys.stderr)
        return 1
    sep = argv.index("--")
    opts, cmd = argv[:sep], argv[sep + 1:]
    code = int(opts[0])
    absent = []
    timeout = None
    i = 1
    while i < len(opts):
        if opts[i] == "--absent" and i + 1 < len(opts):
            absent.append(opts[i + 1])
            i += 2
        elif opts[i] == "--timeout" and i + 1 < len(opts):
            timeout = float(opts[i + 1])
            i += 2
        else:
            print("expect_exit: bad option %r" % opts[i], file=sys.stderr)
            return 1
    if not cmd:
        print("expect_exit: no command", file=sys.stderr)
        return 1
    for pth in absent:
        if os.path.isfile(pth) or os.path.islink(pth):
            os.remove(pth)
    sys.stdout.flush()
    try:
        rc = subprocess.call(cmd, timeout=timeout)
    except subprocess.TimeoutExpired:
        print("expect_exit: %s hung (still running after %g s)" % (cmd[0], timeout), file=sys.stderr)
        return 1
    except OSError as e:
        print("expect_exit: cannot run %s: %s" % (cmd[0], e), file=sys.stderr)
        return 1
    ok = True
    if rc != code:
        print("expect_exit: %s exited with %d, expected %d" % (cmd[0], rc, code), file=sys.stderr)
        ok = False
    for pth in absent:
        if os.path.exists(pth):
            print("expect_exit: %s exists but should not" % pth, file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
