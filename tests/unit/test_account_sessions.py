"""AccountSessions: whose credentials a client signs with (the bot's own, or a target account's role).

STS here is a small fake with behaviour (it answers AssumeRole or refuses it as STS does); the sandbox's
STS on the DRS emulator proves the same through HTTP in tests/e2e."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from bot.adapters.accounts import DURATION_SECONDS, SESSION_NAME, AccountSessions
from bot.domain.accounts import AccountRegion, home, role_arn
from bot.errors import AccountUnreachable, DrsUnavailable

CONFIG = Config(retries={"mode": "standard", "max_attempts": 1})
TARGET = "111122223333"


class FakeSts:
    def __init__(self, refuse: dict[str, str] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.refuse = refuse or {}  # account -> error code

    def assume_role(self, **request: Any) -> dict[str, Any]:
        self.calls.append(request)
        account = request["RoleArn"].split(":")[4]
        if account in self.refuse:
            code = self.refuse[account]
            raise ClientError(
                {
                    "Error": {
                        "Code": code,
                        "Message": f"User is not authorized to perform: sts:AssumeRole on {request['RoleArn']}",
                    }
                },
                "AssumeRole",
            )
        n = len(self.calls)
        return {
            "Credentials": {
                "AccessKeyId": f"ASIA{account}{n:04d}",
                "SecretAccessKey": "secret",
                "SessionToken": f"token-{n}",
                # STS's own clock may disagree with ours (the sandbox's is emulated): not relied on.
                "Expiration": datetime(2001, 1, 1, tzinfo=UTC),
            }
        }


def sessions(sts: FakeSts, external_id: str | None = "ext-123") -> AccountSessions:
    return AccountSessions(
        "us-east-1", role_name="drs-chatops-target", external_id=external_id, sts=lambda: sts
    )


def signing_key(client: Any) -> str:
    return str(client._request_signer._credentials.get_frozen_credentials().access_key)


def test_a_target_account_is_reached_through_its_role_assumed_once_with_the_external_id() -> None:
    sts = FakeSts()
    accounts = sessions(sts)
    assert sts.calls == []  # nothing is assumed before a call needs it
    drs = accounts.client("drs", AccountRegion(TARGET, "us-west-2"), CONFIG)
    ec2 = accounts.client("ec2", AccountRegion(TARGET, "eu-west-1"), CONFIG)
    assert signing_key(drs) == signing_key(ec2) == f"ASIA{TARGET}0001"
    assert sts.calls == [
        {
            "RoleArn": f"arn:aws:iam::{TARGET}:role/drs-chatops-target",
            "RoleSessionName": SESSION_NAME,
            "DurationSeconds": DURATION_SECONDS,
            "ExternalId": "ext-123",
        }
    ]
    assert drs.meta.region_name == "us-west-2"


def test_the_bots_own_account_uses_its_own_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOWNACCOUNT")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "own")
    sts = FakeSts()
    client = sessions(sts).client("drs", home("us-east-1"), CONFIG)
    # boto3's default session, as the function's other clients (its credentials, its loaded models).
    assert signing_key(client) == signing_key(boto3.client("drs", region_name="us-east-1"))
    assert not signing_key(client).startswith("ASIA")
    assert sts.calls == []


def test_no_external_id_is_sent_when_none_is_configured() -> None:
    sts = FakeSts()
    signing_key(sessions(sts, external_id=None).client("drs", AccountRegion(TARGET, "us-east-1"), CONFIG))
    assert "ExternalId" not in sts.calls[0]


def test_a_refused_assume_role_names_the_account_and_role_and_is_retried_like_throttling() -> None:
    sts = FakeSts(refuse={TARGET: "AccessDenied"})
    client = sessions(sts).client("drs", AccountRegion(TARGET, "us-east-1"), CONFIG)
    with pytest.raises(AccountUnreachable) as refused:
        signing_key(client)
    error = refused.value
    assert isinstance(error, DrsUnavailable)  # the executor's retry path for throttling takes it
    assert (error.account, error.code, error.transient) == (TARGET, "AccessDenied", False)
    assert error.role_arn == role_arn(TARGET, "drs-chatops-target", "us-east-1")
    assert f"cannot assume {error.role_arn} in account {TARGET}" in str(error)
    # Not remembered as a failure: the next call asks STS again (the role may have been fixed).
    sts.refuse.clear()
    assert signing_key(client) == f"ASIA{TARGET}0002"


def test_credentials_are_timed_on_our_clock_and_refreshed_before_they_expire() -> None:
    sts = FakeSts()
    accounts = sessions(sts)
    answer = accounts.assume(TARGET)
    expiry = datetime.fromisoformat(answer["expiry_time"])
    assert (
        timedelta(seconds=DURATION_SECONDS - 5)
        < expiry - datetime.now(UTC)
        <= timedelta(seconds=DURATION_SECONDS)
    )


def test_role_arns_follow_the_regions_partition() -> None:
    assert role_arn(TARGET, "r", "cn-north-1") == f"arn:aws-cn:iam::{TARGET}:role/r"
    assert role_arn(TARGET, "r", "us-gov-west-1") == f"arn:aws-us-gov:iam::{TARGET}:role/r"
