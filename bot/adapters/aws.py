"""boto3 clients for the bot: standard retry mode, the Lambda runtime's region unless told otherwise.

Endpoints come from boto3's own AWS_ENDPOINT_URL_<SERVICE> variables, which is how the sandbox points
these clients at moto and the DRS emulator without the code knowing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

from bot.adapters.drs import RETRY_CONFIG

if TYPE_CHECKING:
    from mypy_boto3_drs import DrsClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_stepfunctions import SFNClient

_DEFAULT = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)


def dynamodb_client(region: str) -> DynamoDBClient:
    return boto3.client("dynamodb", region_name=region, config=_DEFAULT)


def drs_client(region: str) -> DrsClient:
    return boto3.client("drs", region_name=region, config=RETRY_CONFIG)


def stepfunctions_client(region: str) -> SFNClient:
    return boto3.client("stepfunctions", region_name=region, config=_DEFAULT)
