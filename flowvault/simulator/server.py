"""Run the simulator under uvicorn on 127.0.0.1, in a background thread or in the foreground."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from .app import Simulator


class SimulatorServer:
    """A running simulator: ``url``, the ``sim`` (state + knobs) and ``stop()``.

    Used as a context manager by tests, the demo and bench::

        with SimulatorServer(sim) as server:
            ... server.url ...
    """

    def __init__(self, sim: Simulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = sim
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when proto says TCP
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
        except OSError:
            self.sock.close()
            raise
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(sim, log_level="critical", access_log=False, lifespan="off",
                                timeout_keep_alive=30, limit_concurrency=None)
        self.server = uvicorn.Server(config)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       name="flowvault-simulator", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.sim.gate is not None:
            self.sim.gate.release()
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=10)
        self.sock.close()

    def serve_forever(self) -> None:
        self.server.run(sockets=[self.sock])

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
