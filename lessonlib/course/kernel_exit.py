"""Let a lesson's kernel exit without tearing the interpreter down.

Imported once, when the runner starts a lesson's kernel (``IPKernelApp.exec_lines``). At exit
Python runs the ``atexit`` handlers, last registered first, then frees every module: with
torch, matplotlib and torchvision loaded that second part alone takes 1-2 s of CPU per lesson,
for nothing (the process ends anyway). The handler below is registered before any lesson code
runs, so it runs after every handler a lesson registered (servers stopped, files closed); it
then finishes what the kernel's own earlier handlers would do for the lesson's objects
(``weakref.finalize`` callbacks such as temporary folders, logging's flush) and leaves with
``os._exit``. What it skips is the kernel's own bookkeeping (its command history) and the
module teardown.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import weakref


def _exit_now() -> None:
    try:
        weakref.finalize._exitfunc()  # type: ignore[attr-defined]  # temporary folders, …
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
    finally:
        os._exit(0)


atexit.register(_exit_now)
