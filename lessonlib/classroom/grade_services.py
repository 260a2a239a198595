"""Servers the grader runs next to a sandbox, for cases such as ``Case(..., service="visdom")``.

Exercise 05.4 asks a function to replay a log *into a Visdom server*; its verdict must come
from the server, not from anything the submission's process says. Per sandbox run that has
such a case, the zygote (``lessonlib.classroom.sandbox``) forks a fresh, confined
**service** process next to the sandbox:

    zygote ──┬── service (own pid/mount/net namespaces, its own uid, fresh empty state)
             └── sandbox (the submission)

The sandbox opens a TCP listener on 127.0.0.1 in *its own* network namespace, before the
submission's code is imported, and hands the listening socket to the service over a
socketpair; the service accepts on it. So the submission reaches this one server and nothing
else, and no other sandbox can reach it (their loopbacks are other namespaces). When the
sandbox has ended, the zygote asks the service for its state (``snapshot``), which the
service writes to a pipe the grader reads; then the service is killed, pid namespace and
all. The grader hands that state to the case's check.

Every function here runs either in the zygote (``warm``) or in the confined service process
(``serve``); the grader only names services. Top-level imports stay stdlib-only.
"""

from __future__ import annotations

import json
import logging
import os
import socket

SERVICES = ("visdom",)
MAX_REQUEST_BYTES = 64 * 2**20
MAX_SNAPSHOT_BYTES = 32 * 2**20


def warm(name: str) -> None:
    """Import what ``name``'s server needs, once, in the zygote (every service forks from it)."""
    if name == "visdom":
        import tornado.httpserver  # noqa: F401
        import tornado.ioloop  # noqa: F401
        import visdom.server.app  # noqa: F401
    else:
        raise ValueError(f"unknown service {name!r}")


def serve(name: str, channel: int, control: int, snapshot: int, work: str) -> None:
    """Run ``name``'s server in the confined service process until the zygote asks for its state.

    ``channel`` delivers the sandbox's listening socket; a message (or EOF) on ``control``
    makes it write its state as JSON to ``snapshot`` and exit; ``work`` is its own folder.
    """
    if name == "visdom":
        _serve_visdom(channel, control, snapshot, work)
    else:
        raise ValueError(f"unknown service {name!r}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _take_listener(channel: socket.socket) -> socket.socket | None:
    """The listening TCP socket the sandbox sent, or None (anything else is closed)."""
    try:
        _, fds, _, _ = socket.recv_fds(channel, 64, 4)
    except OSError:
        return None
    listener = None
    for fd in fds:
        sock = socket.socket(fileno=fd)
        accepting = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        if listener is None and sock.family == socket.AF_INET and accepting:
            listener = sock
        else:
            sock.close()
    return listener


def _serve_visdom(channel: int, control: int, snapshot: int, work: str) -> None:
    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop
    from visdom.server import app as visdom_app

    logging.getLogger().setLevel(logging.CRITICAL)
    # visdom turns tornado's debug mode on, which would also watch and re-exec modules.
    visdom_app.tornado_settings.update(autoreload=False, serve_traceback=False)
    env_path = os.path.join(work, "envs") + os.sep
    os.makedirs(env_path, exist_ok=True)
    app = visdom_app.Application(port=0, env_path=env_path)
    server = HTTPServer(app, max_buffer_size=MAX_REQUEST_BYTES, max_body_size=MAX_REQUEST_BYTES)
    loop = IOLoop.current()
    chan = socket.socket(fileno=channel)
    ctl = socket.socket(fileno=control)

    def on_channel(fd: int, events: int) -> None:
        loop.remove_handler(fd)
        listener = _take_listener(chan)
        chan.close()
        if listener is not None:
            listener.setblocking(False)
            server.add_socket(listener)

    def on_control(fd: int, events: int) -> None:
        try:
            state = {}
            for eid, env in list(app.state.items()):
                state[str(eid)] = env["jsons"]
            data = json.dumps(state).encode()
        except Exception:  # noqa: BLE001 - a state the grader cannot read: say nothing
            data = b""
        if len(data) > MAX_SNAPSHOT_BYTES:
            data = b""
        try:
            _write_all(snapshot, data)
        finally:
            os._exit(0)

    loop.add_handler(chan.fileno(), on_channel, IOLoop.READ)
    loop.add_handler(ctl.fileno(), on_control, IOLoop.READ)
    loop.start()
