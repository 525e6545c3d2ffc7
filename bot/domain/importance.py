"""Per-server importance (a protection group's `optional` servers, DRS's "impact level"): how a wave's
outcome is judged when some of its servers may fail without harm."""

from __future__ import annotations

from bot.domain.execution import ServerStatus, WaveRun, WaveStatus, tally


def judge(wave: WaveRun) -> WaveStatus:
    """COMPLETED: every server launched. PARTIAL: some did not, but a required one launched or only
    optional ones failed. FAILED: no server launched and a required one failed. (An optional failure is
    reported, so the wave is not COMPLETED; it never makes the wave FAILED on its own.)"""
    counts = tally(wave.servers())
    if counts.launched == counts.total:
        return WaveStatus.COMPLETED
    if counts.launched == 0 and required_failed(wave):
        return WaveStatus.FAILED
    return WaveStatus.PARTIAL


def required_failed(wave: WaveRun) -> bool:
    """A server that is not optional ended without launching: what on_failure: stop stops on."""
    optional = set(wave.optional)
    return any(
        server.status is not ServerStatus.LAUNCHED and server.source_server_id not in optional
        for server in wave.servers()
    )
