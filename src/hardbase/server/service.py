"""Run the service: check where it may listen, open the databases, start the controller loop
(unless told not to) and uvicorn; on SIGTERM or SIGINT stop taking requests, end the live
streams, and let the pass in progress reach its end (or its next checkpoint, within the
grace time)."""

from __future__ import annotations

import ipaddress
import logging
import signal
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from hardbase.errors import UsageError
from hardbase.lifecycle.fleet import Fleet
from hardbase.lifecycle.state import StateDB

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_listen(text: str) -> Listen:
    """HOST:PORT, [IPv6]:PORT or :PORT (loopback)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--listen '{text}' is not HOST:PORT (for example 127.0.0.1:8080)")
    host = host.strip("[]") or "127.0.0.1"
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise UsageError(f"--listen '{text}': give an IP address, not '{host}'") from None
    return Listen(host, int(port))


@dataclass(frozen=True)
class ServeOptions:
    listen: Listen
    watch: bool = True
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure_listen: bool = False
    grace: float = 60.0


def check_options(options: ServeOptions) -> None:
    if (options.tls_cert is None) != (options.tls_key is None):
        raise UsageError("give both --tls-cert and --tls-key, or neither")
    for path in (options.tls_cert, options.tls_key):
        if path is not None and not path.is_file():
            raise UsageError(f"{path} does not exist or is not a file")
    if not options.listen.loopback and options.tls_cert is None and not options.insecure_listen:
        raise UsageError(
            f"refusing to listen on {options.listen.host} without TLS: give --tls-cert and "
            "--tls-key, or --insecure-listen when a TLS proxy in front of it is the only way in"
        )


def serve(fleet: Fleet, options: ServeOptions) -> int:
    import uvicorn

    from hardbase.server.app import create_app
    from hardbase.server.context import ServiceContext
    from hardbase.server.imagedata import ImageData
    from hardbase.server.tokens import TokenStore

    check_options(options)
    with StateDB.open(fleet.state) as state:
        tokens = TokenStore.open(fleet.state)
        ctx = ServiceContext(
            fleet=fleet, state=state, tokens=tokens, data=ImageData(fleet, state),
            secure_cookies=options.tls_cert is not None,
        )  # fmt: skip
        if options.watch:
            from hardbase.lifecycle.controller import Controller
            from hardbase.lifecycle.executor import executor_for
            from hardbase.server.runner import ControllerLoop

            controller = Controller(fleet, state, executor=executor_for(fleet))
            ctx.loop = ControllerLoop(fleet, state, controller)
        app = create_app(ctx)
        config = uvicorn.Config(
            app,
            host=options.listen.host,
            port=options.listen.port,
            ssl_certfile=str(options.tls_cert) if options.tls_cert else None,
            ssl_keyfile=str(options.tls_key) if options.tls_key else None,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=5,
            limit_concurrency=1000,
            h11_max_incomplete_event_size=16384,
        )

        class _Server(uvicorn.Server):
            def handle_exit(self, sig: int, frame: FrameType | None) -> None:
                ctx.stopping.set()  # the live streams end, so the shutdown does not wait
                super().handle_exit(sig, frame)

        server = _Server(config)
        # uvicorn raises the signal it caught again once it has shut down; this handler takes
        # it, so the controller loop below still gets its grace time
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: ctx.stopping.set())
        if ctx.loop is not None:
            ctx.loop.start()
        scheme = "https" if options.tls_cert else "http"
        log.warning(
            "serving %s on %s://%s:%d%s", fleet.path, scheme, options.listen.host,
            options.listen.port, "" if options.watch else " (no controller: --no-watch)",
        )  # fmt: skip
        try:
            server.run()
        finally:
            ctx.stopping.set()
            clean = True
            if ctx.loop is not None:
                if ctx.loop.busy:
                    log.warning("waiting up to %.0fs for the pass in progress", options.grace)
                clean = ctx.loop.stop(options.grace)
                if not clean:
                    log.warning(
                        "the pass did not end within %.0fs; its jobs resume from their last "
                        "checkpoint next time", options.grace,
                    )  # fmt: skip
            tokens.close()
        log.warning("stopped")
    return 0 if clean else 3
