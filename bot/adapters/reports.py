"""Execution reports in S3: reports/<plan>/<execution>.json and .html, and presigned links to the page.

The bucket (cfn/template.yaml, ReportsBucket) encrypts, versions and may lock what is written here; a
report written again after a cleanup is a new version of the same key, the earlier one kept.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from bot.services.report import ReportUnavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

PREFIX = "reports/"
# The execution version a report was made from, on the JSON object (written last).
VERSION_KEY = "execution-version"


def key(plan: str, execution_id: str, extension: str) -> str:
    # Plan names and execution ids are restricted to letters, digits, '.', '_' and '-' (no '/').
    return f"{PREFIX}{plan}/{execution_id}.{extension}"


class S3ReportStore:
    """`client` is made on first use: a Slack click that never needs a report does not load S3's model."""

    def __init__(self, client: Callable[[], S3Client], bucket: str) -> None:
        self._make_client = client
        self._bucket = bucket

    @cached_property
    def _client(self) -> S3Client:
        return self._make_client()

    def written_version(self, plan: str, execution_id: str) -> int | None:
        try:
            # A one-byte range: the metadata is what counts (s3:GetObject, as a HEAD would need too).
            found = self._client.get_object(
                Bucket=self._bucket, Key=key(plan, execution_id, "json"), Range="bytes=0-0"
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise ReportUnavailable(_text(error)) from error
        except BotoCoreError as error:
            raise ReportUnavailable(str(error)) from error
        found["Body"].close()
        value = found.get("Metadata", {}).get(VERSION_KEY)
        return int(value) if value is not None and value.isdigit() else None

    def put(self, plan: str, execution_id: str, version: int, json_body: bytes, html_body: bytes) -> None:
        try:
            self._client.put_object(
                Bucket=self._bucket,
                Key=key(plan, execution_id, "html"),
                Body=html_body,
                ContentType="text/html; charset=utf-8",
            )
            self._client.put_object(
                Bucket=self._bucket,
                Key=key(plan, execution_id, "json"),
                Body=json_body,
                ContentType="application/json",
                Metadata={VERSION_KEY: str(version)},
            )
        except ClientError as error:
            raise ReportUnavailable(_text(error)) from error
        except BotoCoreError as error:
            raise ReportUnavailable(str(error)) from error

    def link(self, plan: str, execution_id: str, seconds: int) -> str:
        # Signed locally: no call to S3. Whoever opens it reads with the bot's s3:GetObject on the key.
        url: str = self._client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": key(plan, execution_id, "html")},
            ExpiresIn=seconds,
        )
        return url


def _text(error: ClientError) -> str:
    detail = error.response.get("Error", {})
    return f"{detail.get('Code', 'error')}: {detail.get('Message', '')}".rstrip(": ")
