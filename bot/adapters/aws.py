"""boto3 clients for the bot: standard retry mode, the Lambda runtime's region unless told otherwise.

Endpoints come from boto3's own AWS_ENDPOINT_URL_<SERVICE> variables, which is how the sandbox points
these clients at moto and the DRS emulator without the code knowing. Light to import (boto3 only): the
Slack function's cold start uses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_stepfunctions import SFNClient

_DEFAULT = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=10)
# botocore's standard mode retries throttling and 5xx with backoff; what is left after that is ours.
DRS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=5, read_timeout=30)


def dynamodb_client(region: str) -> DynamoDBClient:
    return boto3.client("dynamodb", region_name=region, config=_DEFAULT)


# Health checks (bot/adapters/health.py, which creates its clients so the IAM tests see its services).
HEALTH_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=15)


def stepfunctions_client(region: str) -> SFNClient:
    return boto3.client("stepfunctions", region_name=region, config=_DEFAULT)


def s3_client(region: str) -> S3Client:
    # SigV4 is what presigned links need in every region.
    return boto3.client("s3", region_name=region, config=_DEFAULT.merge(Config(signature_version="s3v4")))


# Bolt's lazy listeners invoke the Slack function before the ack is sent: inside Slack's 3 seconds.
_SELF_INVOKE = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2)


def lambda_client(region: str | None = None) -> LambdaClient:
    """For Bolt's lazy listeners, which invoke the Slack function itself (its own region by default)."""
    return boto3.client("lambda", region_name=region, config=_SELF_INVOKE)
