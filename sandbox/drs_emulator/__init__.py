"""A faithful, deterministic emulator of AWS Elastic Disaster Recovery (DRS), served to boto3 over HTTP.

See README.md in this directory for the Python API, the admin HTTP API and the CLI.
"""

from .clock import ManualClock, ScaledClock
from .config import Quotas, Timings
from .emulator import ApiResponse, CallRecord, DrsEmulator, LaunchResult
from .model import EXTRA_ENUM_VALUES
from .server import EmulatorServer

__all__ = [
    "EXTRA_ENUM_VALUES",
    "ApiResponse",
    "CallRecord",
    "DrsEmulator",
    "EmulatorServer",
    "LaunchResult",
    "ManualClock",
    "Quotas",
    "ScaledClock",
    "Timings",
]
