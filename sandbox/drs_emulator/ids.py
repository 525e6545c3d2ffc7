"""Deterministic identifiers: derived from the seed and what they name, never from timing."""

from __future__ import annotations

import hashlib


def det_hex(seed: int, *parts: object, length: int = 17) -> str:
    text = "|".join([str(seed), *map(str, parts)])
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def det_fraction(seed: int, *parts: object) -> float:
    """A number in [0, 1) fixed by the seed and the parts."""
    return int(det_hex(seed, *parts, length=13), 16) / 16**13


def det_int(seed: int, low: int, high: int, *parts: object) -> int:
    """An integer in [low, high] fixed by the seed and the parts."""
    return low + int(det_fraction(seed, *parts) * (high - low + 1))


def source_server_arn(region: str, account: str, server_id: str) -> str:
    return f"arn:aws:drs:{region}:{account}:source-server/{server_id}"


def job_arn(region: str, account: str, job_id: str) -> str:
    return f"arn:aws:drs:{region}:{account}:job/{job_id}"


def recovery_instance_arn(region: str, account: str, instance_id: str) -> str:
    return f"arn:aws:drs:{region}:{account}:recovery-instance/{instance_id}"
