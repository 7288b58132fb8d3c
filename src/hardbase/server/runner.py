"""The controller loop inside the service: a thread that runs a pass, then waits for the
fleet's interval or for a pass asked for through the API, until the service stops.

Stopping never interrupts a pass: the controller's jobs move from checkpoint to
checkpoint, and the service waits (up to its grace time) for the pass in progress
to end. A pass cut off by the grace time resumes from its last checkpoint when
the service (or any controller) runs again.
"""

from __future__ import annotations

import logging
import threading
import time

from hardbase.errors import HardbaseError
from hardbase.lifecycle.controller import Controller, PassReport
from hardbase.lifecycle.fleet import Fleet
from hardbase.lifecycle.state import StateDB

log = logging.getLogger(__name__)


class ControllerLoop:
    def __init__(self, fleet: Fleet, state: StateDB, controller: Controller) -> None:
        self.fleet = fleet
        self.state = state
        self.controller = controller
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="controller", daemon=True)
        self.running_since: float | None = None
        self.last_report: PassReport | None = None
        self.passes = 0

    def start(self) -> None:
        self._thread.start()

    def request_pass(self) -> None:
        self._wake.set()

    @property
    def busy(self) -> bool:
        return self.running_since is not None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            self.running_since = time.time()
            try:
                self.last_report = self.controller.run_once()
                log.info(
                    "pass done: %s",
                    ", ".join(f"{o.image} {o.result}" for o in self.last_report.outcomes)
                    or "nothing to do",
                )
            except HardbaseError as exc:
                log.warning("the pass stopped: %s", exc.diagnostics())
                try:
                    self.state.record("*", "pass-failed", error=exc.diagnostics())
                except HardbaseError:
                    pass
            except Exception:  # the loop must outlive one bad pass; the next one retries
                log.exception("the pass failed")
            finally:
                self.running_since = None
                self.passes += 1
            self._wake.wait(self.fleet.interval)

    def stop(self, grace: float) -> bool:
        """Stop after the pass in progress; False when it did not end within `grace` s."""
        self._stop.set()
        self.controller.stop()
        self._wake.set()
        if not self._thread.is_alive():
            return True
        self._thread.join(grace)
        return not self._thread.is_alive()
