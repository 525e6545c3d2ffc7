"""`drs-bot history export`: many executions in the history's shape (bot/domain/history.py), as JSON
Lines (one execution per line, whole) or CSV (one row per server, for a spreadsheet)."""

from __future__ import annotations

from typing import Any

# CSV column -> where it comes from in the history: the execution, its wave, or the server.
_EXECUTION = {
    name: name
    for name in ("ExecutionId", "PlanId", "ExecutionType", "Status", "StartTime", "EndTime", "InitiatedBy")
}
_WAVE = {
    "WaveName": "WaveName",
    "ProtectionGroupId": "ProtectionGroupId",
    "Region": "Region",
    "AccountId": "AccountId",  # another account's wave (#18); empty for the bot's own
    "WaveStatus": "Status",
    "WaveStartTime": "StartTime",
    "WaveEndTime": "EndTime",
}
_SERVER = {
    "SourceServerId": "SourceServerId",
    "RecoveryJobId": "RecoveryJobId",
    "ServerStatus": "Status",
    "InstanceId": "InstanceId",
    "LaunchTime": "LaunchTime",
    "Error": "Error",
}
CSV_COLUMNS = (*_EXECUTION, *_WAVE, *_SERVER)


def csv_rows(history: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per server (times as the history's epoch seconds); an execution without servers still
    has one row."""
    execution = {column: history[key] for column, key in _EXECUTION.items()}
    rows = []
    for wave in history["Waves"]:
        wave_part = {column: wave.get(key) for column, key in _WAVE.items()}
        for server in wave["Servers"]:
            rows.append(
                {**execution, **wave_part, **{column: server[key] for column, key in _SERVER.items()}}
            )
    if not rows:
        rows.append(execution)
    return [
        {column: "" if row.get(column) is None else row[column] for column in CSV_COLUMNS} for row in rows
    ]
