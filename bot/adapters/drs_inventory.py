"""The readiness watch's one DRS call: every source server of an account and region, a page of 200 at a time.

Apart from DrsGateway so that the watch function's role is granted DescribeSourceServers and nothing
else (tests/infrastructure/test_iam.py derives each role from the adapter classes its function uses).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from bot.adapters.drs import MAX_IDS, ClientFactory, _source_server, _translated
from bot.domain.accounts import AccountRegion
from bot.domain.drs import SourceServerInfo

if TYPE_CHECKING:
    from mypy_boto3_drs import DrsClient


class DrsInventory:
    def __init__(self, client_for: ClientFactory) -> None:
        self._factory = client_for
        self._clients: dict[AccountRegion, DrsClient] = {}

    def source_servers(self, where: AccountRegion) -> list[SourceServerInfo]:
        if where not in self._clients:
            self._clients[where] = self._factory(where)
        client = self._clients[where]
        with _translated():
            paginator = client.get_paginator("describe_source_servers")
            return [
                _source_server(cast(dict[str, Any], item))
                for page in paginator.paginate(filters={}, PaginationConfig={"PageSize": MAX_IDS})
                for item in page.get("items", [])
            ]
