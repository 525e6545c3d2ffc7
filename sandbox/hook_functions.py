"""hooks (#15) on this machine: the Lambda functions and SSM Automation documents a plan's `before:` /
`after:` can name in the sandbox, with their faults.

Lambda (served by the fake Lambda, sandbox/lambda_fake.py, as the bot's own functions are):
- `drs-hook-ok` answers what it was asked (the plan, wave, phase, instance ids, its payload);
- `drs-hook-fail` raises, as a function whose DNS change was refused would;
- `drs-hook-hang` does not answer within any hook's timeout (Lambda ends it after HANG_SECONDS).
SSM Automation (the DRS emulator, sandbox/drs_emulator/ssm_automation.py), on the emulator's clock:
- `DrsHook-Ok` succeeds after 2 emulated minutes with an output; `DrsHook-Fail` fails after one;
  `DrsHook-Hang` never ends.
Every Lambda call is recorded with the emulated time it arrived (`HookFunctions.calls`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sandbox.drs_emulator import DrsEmulator
from sandbox.drs_emulator.ssm_automation import Runbook, set_runbook
from sandbox.lambda_fake import FakeLambda

OK, FAIL, HANG = "drs-hook-ok", "drs-hook-fail", "drs-hook-hang"
HANG_SECONDS = 3.0  # real seconds: past any hook timeout the tests use, short enough to end the thread
RUNBOOKS = {
    "DrsHook-Ok": Runbook(seconds=120, outputs={"flip.Record": ["db.example.internal -> 10.0.8.12"]}),
    "DrsHook-Fail": Runbook(
        seconds=60, outcome="Failed", failure="Step flip failed: Route 53 refused the change"
    ),
    "DrsHook-Hang": Runbook(outcome="hang"),
}


@dataclass
class HookCall:
    function: str
    at: datetime  # emulated time
    payload: Any


@dataclass
class HookFunctions:
    clock: Callable[[], datetime]
    calls: list[HookCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _record(self, function: str, payload: Any) -> None:
        with self._lock:
            self.calls.append(HookCall(function, self.clock(), payload))

    def ok(self, payload: Any, context: Any) -> dict[str, Any]:
        self._record(OK, payload)
        return {
            "changed": True,
            "wave": payload.get("wave"),
            "phase": payload.get("phase"),
            "instances": payload.get("recovery_instance_ids"),
            "payload": payload.get("payload"),
        }

    def fail(self, payload: Any, context: Any) -> None:
        self._record(FAIL, payload)
        raise RuntimeError("Route 53 refused the change: <zone> is not authorized & locked")

    def hang(self, payload: Any, context: Any) -> None:
        self._record(HANG, payload)
        threading.Event().wait(HANG_SECONDS)  # Lambda's own timeout ends it


def deploy(lambdas: FakeLambda, drs: DrsEmulator) -> HookFunctions:
    """Register the hook functions with the fake Lambda and the runbooks with the emulator."""
    functions = HookFunctions(clock=drs.now)
    lambdas.register(OK, functions.ok, timeout_seconds=10)
    lambdas.register(FAIL, functions.fail, timeout_seconds=10)
    lambdas.register(HANG, functions.hang, timeout_seconds=HANG_SECONDS)
    for document, runbook in RUNBOOKS.items():
        set_runbook(drs, document, runbook)
    return functions
