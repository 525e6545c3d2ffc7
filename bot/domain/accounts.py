"""Where DRS work happens: an AWS account and a region.

DRS counts its quotas per account and region, and a plan may recover protection groups in several
accounts (DRS caps a staging account at 300 source servers; organisations recover each business unit into
its own account). Every call to DRS, EC2, SSM or Lambda about a wave is made in the wave's account and
region; `account=None` is the bot's own account, reached with its own credentials.
"""

from __future__ import annotations

import re
from typing import Annotated, NamedTuple

from pydantic import BeforeValidator, StringConstraints

_ACCOUNT = re.compile(r"^\d{12}$")


def _account(value: object) -> object:
    # YAML reads 012345678901 as a number (and drops the zero): an account id is written quoted.
    if isinstance(value, int) and not isinstance(value, bool):
        # Not restated as digits: YAML reads 012345670123 as an octal number, whatever zeros it drops.
        raise ValueError(
            f"write the account id in quotes, as its 12 digits (YAML read an unquoted number: {value}; it "
            "drops leading zeros and reads one starting with 0 as octal)"
        )
    return value


Account = Annotated[str, BeforeValidator(_account), StringConstraints(pattern=r"^\d{12}$")]


def is_account(value: str) -> bool:
    return bool(_ACCOUNT.match(value))


class AccountRegion(NamedTuple):
    """An account (None: the bot's own) and a region: where a wave's DRS calls go."""

    account: str | None
    region: str

    def __str__(self) -> str:
        return self.region if self.account is None else f"{self.account}/{self.region}"

    def sort_key(self) -> tuple[str, str]:
        return (self.account or "", self.region)


def home(region: str) -> AccountRegion:
    """The bot's own account, in `region`."""
    return AccountRegion(None, region)


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def role_arn(account: str, role_name: str, region: str) -> str:
    """The role the bot assumes in a target account (IAM is global; the partition follows the region)."""
    return f"arn:{partition(region)}:iam::{account}:role/{role_name}"
