"""Starting the durable executor loop: a Step Functions execution named after the bot's execution."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient


class StepFunctionsTrigger:
    def __init__(self, client: SFNClient, state_machine_arn: str) -> None:
        self._client = client
        self._arn = state_machine_arn

    def start(self, execution_id: str, run: str = "") -> None:
        # A closed Step Functions execution's name cannot be used again (for 90 days): a re-opened
        # execution's loop gets a name of its own.
        name = f"{execution_id}-{run}" if run else execution_id
        try:
            self._client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps({"execution_id": execution_id})
            )
        except ClientError as error:
            # The name is the execution id: a second start of the same loop is refused, which is the point.
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise


class PollingTrigger:
    """No durable loop to start: a runner polls the active executions (the sandbox, a laptop)."""

    def start(self, execution_id: str, run: str = "") -> None:
        return None
