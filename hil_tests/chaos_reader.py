"""One virtual reader's life in the chaos run (hil_tests/chaos.py): a thread that taps the
seed's learners at its reader, records what the reader answered for the oracle, and carries
out the reader faults the injector asks for (power cut mid-tap, unplug/replug)."""

from __future__ import annotations

import queue
import threading
import time
from typing import TYPE_CHECKING

from hil_tests import chaos_faults as faults
from hil_tests.chaos_oracle import RECORDED, UNCONFIRMED, Tap
from hil_tests.chaos_plan import Fault

if TYPE_CHECKING:
    from hil_tests.chaos import ChaosRun


class ChaosError(Exception):
    pass


class ReaderWorker(threading.Thread):
    """Taps one reader's share of the plan, in session windows, and carries out the reader
    faults (power cut mid-tap, unplug) between taps so they never race the tap client."""

    def __init__(self, run: "ChaosRun", station: str, index: int):
        super().__init__(name=f"reader {station}/{index}", daemon=True)
        self.run_ = run
        self.station, self.index = station, index
        self.reader = run.district.reader(station, index)
        self.quota = run.plan.quota(station, index)
        self.stream = run.plan.learner_stream(station, index)
        self.requests: queue.Queue = queue.Queue()
        self.taps: list[Tap] = []
        self.error: BaseException | None = None

    def request(self, fault: Fault) -> threading.Event:
        done = threading.Event()
        self.requests.put((fault, done))
        return done

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by the run, never lost in a thread
            self.error = exc
            self.run_.stop.set()

    def _loop(self) -> None:
        run = self.run_
        learner = next(self.stream)
        while not run.stop.is_set():
            try:
                fault, done = self.requests.get_nowait()
            except queue.Empty:
                fault = None
            if fault is not None:
                try:
                    self._fault(fault, learner)
                    if fault.kind == "power_cut" and self._cut_tap_sent:
                        learner = next(self.stream)
                finally:
                    done.set()
                continue
            if len(self.taps) >= self.quota:
                if run.faults_done.is_set():
                    return  # every fault has run: none can still ask this reader for one
                time.sleep(0.05)
                continue
            if not self._wait_guard():
                continue
            if self._tap(learner):
                learner = next(self.stream)

    def _wait_guard(self) -> bool:
        wait = self.run_.plan.wait_before_tap(self.station, self.run_.t0, time.time())
        if wait > 0:
            self.run_.stop.wait(min(wait, 0.2))
            return False
        return True

    def _tap(self, learner, after_send=None) -> bool:
        vr = self.reader.virtual
        res = faults.tap(vr.card_field_port, learner.uid, 1, timeout=3.0, after_send=after_send,
                         stop=self.run_.stop)
        if not res.sent:
            return False
        event = res.event or {}
        outcome = event.get("event", UNCONFIRMED)
        seq = event.get("seq") if outcome in RECORDED else None
        self.taps.append(Tap(self.station, self.index, learner.id, learner.uid, 1, res.t_sent,
                             res.t_done, outcome, seq))
        self.run_.progress(1)
        return True

    def _fault(self, fault: Fault, learner) -> None:
        vr = self.reader.virtual
        self._cut_tap_sent = False
        if fault.kind == "power_cut":
            while not self._wait_guard() and not self.run_.stop.is_set():
                pass

            def cut():
                time.sleep(fault.cut_after_ms / 1000)
                vr.power_cut()
            if len(self.taps) < self.quota:
                self._cut_tap_sent = self._tap(learner, after_send=cut)
            if vr.status().get("powered"):
                vr.power_cut()  # the tap was never sent (reader off): cut anyway
            self.run_.stop.wait(fault.duration_s)
            vr.power_on(timeout=30)
        elif fault.kind == "unplug":
            vr.unplug()
            self.run_.stop.wait(fault.duration_s)
            vr.plug(timeout=30)
        else:
            raise ChaosError(f"not a reader fault: {fault.kind}")
