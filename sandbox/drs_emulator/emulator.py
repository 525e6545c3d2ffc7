"""DrsEmulator: the thread-safe core. One lock; lifecycles advance lazily from the clock on every call."""

from __future__ import annotations

import copy
import logging
import math
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import ec2, errors, instance_health, lifecycle, model, shapes, ssm, sts
from .clock import Clock, ScaledClock, fmt_event_time, fmt_time, parse_duration
from .config import Quotas, Timings
from .errors import DrsError
from .faults import Fault, FaultSet
from .ids import det_hex, det_int
from .operations import HANDLERS, MUTATING, Ctx, consume_failure, create_extended_source_server
from .state import HEALTHY_STATE, Hardware, LaunchFailure, RegionState, SourceServer

log = logging.getLogger(__name__)

REPLICATION_STATES = tuple(model.shapes()["DataReplicationState"]["enum"])
DEFAULT_LAUNCH_ERROR = (
    "Failed to create a launch template version for source server {source_server_id}. "
    "An error occurred (UnauthorizedOperation) when calling the CreateLaunchTemplateVersion operation: "
    "You are not authorized to perform this operation. User: arn:aws:sts::{account}:assumed-role/"
    "{role}/drs-chatops is not authorized to perform: ec2:CreateLaunchTemplateVersion on "
    "resource: arn:aws:ec2:{region}:{account}:launch-template/{launch_template_id} because no "
    "identity-based policy allows the ec2:CreateLaunchTemplateVersion action"
)
# Failures whose default text is the launch-template one above; the others get a plain one.
_LAUNCH_TEMPLATE_EVENTS = frozenset({"LAUNCH_FAILED", "UPDATE_LAUNCH_TEMPLATE_FAILED"})
DEFAULT_FAILURE = "{event} for source server {source_server_id} (failure injected by the DRS emulator)"
# Seeded in these states, a server has never finished its initial sync, so it has no snapshots.
_NEVER_REPLICATED = frozenset({"INITIATING", "INITIAL_SYNC"})
_ACCOUNT_ID = re.compile(r"\d{12}")
# How a missing permission is answered, per service (the message names the caller, as IAM's does).
_DENIED = {
    "drs": ("AccessDeniedException", 403),
    "ec2": ("UnauthorizedOperation", 403),
    "ssm": ("AccessDeniedException", 400),
}


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str]


@dataclass
class CallRecord:
    """One API call as the emulator saw it."""

    seq: int
    operation: str
    region: str
    params: dict[str, Any]
    time: datetime  # emulated time of the call
    status: int = 0
    error: str | None = None  # error code, when one was returned
    error_message: str | None = None
    response: dict[str, Any] | None = None  # kept for mutating operations only
    caller: str | None = None  # the ARN that signed the call (an assumed role's session, or the home role)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "operation": self.operation,
            "region": self.region,
            "params": self.params,
            "time": fmt_time(self.time),
            "status": self.status,
            "error": self.error,
            "errorMessage": self.error_message,
            "response": self.response,
            "caller": self.caller,
        }


@dataclass
class LaunchResult:
    """When a server's launch reached LAUNCHED or FAILED."""

    region: str
    job_id: str
    source_server_id: str
    status: str
    time: datetime
    is_drill: bool
    recovery_instance_id: str | None
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "jobID": self.job_id,
            "sourceServerID": self.source_server_id,
            "status": self.status,
            "time": fmt_time(self.time),
            "isDrill": self.is_drill,
            "recoveryInstanceID": self.recovery_instance_id,
            "error": self.error,
        }


class World:
    """What the accounts of one emulator share: the clock, the lock, event subscribers, and STS (roles
    and the credentials issued, which select the account a request acts in)."""

    def __init__(self, home: str, clock: Clock, seed: int, sts_clock: Clock | None) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.home = home
        self.accounts: dict[str, DrsEmulator] = {}
        self.subscribers: list[Callable[[dict[str, Any]], None]] = []
        self.sts = sts.StsState(seed, sts_clock or clock)
        self.home_identity = self.sts.home_identity(home)

    def caller(self, access_key_id: str | None) -> tuple[DrsEmulator, sts.Identity]:
        """The account a request signed with this access key acts in, and who signed it: a session
        STS issued, else (unknown or default keys) the home account's own role."""
        with self.lock:
            identity = self.sts.sessions.get(access_key_id or "")
            if identity is None:
                return self.accounts[self.home], self.home_identity
            return self.accounts[identity.account], identity

    def serve_sts(self, caller: sts.Identity, form: dict[str, list[str]], region: str) -> tuple[int, bytes]:
        """One STS request. AssumeRole goes to the call log of the role's account (as CloudTrail logs it
        there), or the caller's when that account is not served."""
        with self.lock:
            data, outcome = sts.handle(self.sts, caller, form)
            if outcome.action == "AssumeRole":
                account = self.accounts.get(outcome.role_account or "") or self.accounts[caller.account]
                now = account._now()
                record = CallRecord(len(account._calls) + 1, "AssumeRole", region, outcome.params, now)
                record.status, record.caller = outcome.status, caller.arn
                if outcome.error is not None:
                    record.error, record.error_message = outcome.error.code, outcome.error.message
                account._calls.append(record)
            return outcome.status, data

    def expired(self, identity: sts.Identity) -> bool:
        return identity.expires is not None and identity.expires <= self.sts.clock.now()

    def server_by_arn(self, arn: str) -> SourceServer | None:
        """A source server of any account served, by its ARN (one lookup per part, not a search)."""
        parts = arn.split(":")
        if len(parts) != 6 or "/" not in parts[5]:
            return None
        account = self.accounts.get(parts[4])
        region = account._regions.get(parts[3]) if account else None
        server = region.servers.get(parts[5].rsplit("/", 1)[1]) if region else None
        return server if server is not None and server.arn == arn else None

    def server_exists(self, server_id: str) -> bool:
        return any(
            server_id in region.servers
            for account in self.accounts.values()
            for region in account._regions.values()
        )


class DrsEmulator:
    def __init__(
        self,
        *,
        regions: Iterable[str] = ("us-east-1",),
        time_scale: float = 1.0,
        seed: int = 0,
        clock: Clock | None = None,
        quotas: Quotas | None = None,
        timings: Timings | None = None,
        account_id: str = "123456789012",
        sts_clock: Clock | None = None,
        _world: World | None = None,
    ) -> None:
        if not _ACCOUNT_ID.fullmatch(account_id):
            raise ValueError(f"an account id is 12 digits, not {account_id!r}")
        self.seed = seed
        self.account_id = account_id
        self.quotas = quotas or Quotas()
        self.timings = timings or Timings()
        self.clock: Clock = clock if clock is not None else ScaledClock(time_scale)
        self.initial_regions = tuple(regions)
        if not self.initial_regions:
            raise ValueError("at least one region is needed")
        # sts_clock: what credentials expire by (default the emulator's clock). botocore renews them by
        # the wall clock, so a sandbox whose DRS time runs 60 times faster passes a wall clock here.
        self._world = _world or World(account_id, self.clock, seed, sts_clock)
        self._world.accounts[account_id] = self
        self._lock = self._world.lock
        self._subscribers = self._world.subscribers
        self._faults = FaultSet(seed)
        self._reset_state()

    # ----- state -------------------------------------------------------------------------------
    def _reset_state(self) -> None:
        self._regions: dict[str, RegionState] = {}
        for name in self.initial_regions:
            self._region(name).initialized = True
        self._faults.clear()
        self._instance_faults: dict[str, instance_health.InstanceFaults] = {}
        self._calls: list[CallRecord] = []
        self._launches: list[LaunchResult] = []
        self._events: list[dict[str, Any]] = []
        self._outbox: list[dict[str, Any]] = []
        self._last_now: datetime | None = None
        self._denied: set[tuple[str, str]] = set()

    def reset(self) -> None:
        """Back to the state right after construction (the clock is left alone; subscribers stay):
        accounts added since are forgotten, and so are roles and the credentials STS issued."""
        with self._lock:
            world = self._world
            for account_id in [a for a in world.accounts if a != world.home]:
                del world.accounts[account_id]
            world.sts.roles.clear()
            world.sts.sessions.clear()
            world.accounts[world.home]._reset_state()

    # ----- accounts ----------------------------------------------------------------------------
    def add_account(
        self,
        account_id: str,
        *,
        regions: Iterable[str] = ("us-east-1",),
        quotas: Quotas | None = None,
        timings: Timings | None = None,
    ) -> DrsEmulator:
        """Another AWS account served by the same emulator, on the same clock: its own source servers,
        jobs, quotas, faults and call log; its ids come from a seed of its own, so they differ from every
        other account's. Reach it with credentials from STS AssumeRole on a role `add_role` set up."""
        with self._lock:
            if account_id in self._world.accounts:
                raise ValueError(f"account {account_id} is already served")
            return DrsEmulator(
                regions=regions,
                clock=self.clock,
                seed=int(
                    det_hex(self._world.accounts[self._world.home].seed, "account", account_id, length=12), 16
                ),
                quotas=quotas,
                timings=timings or self.timings,
                account_id=account_id,
                _world=self._world,
            )

    def account(self, account_id: str) -> DrsEmulator:
        """The emulator of one account (the home one included)."""
        with self._lock:
            if account_id not in self._world.accounts:
                raise ValueError(f"account {account_id} is not served (add_account first)")
            return self._world.accounts[account_id]

    @property
    def accounts(self) -> list[str]:
        """Every account served, the home account first."""
        with self._lock:
            return list(self._world.accounts)

    @property
    def home(self) -> DrsEmulator:
        return self.account(self._world.home)

    @property
    def world(self) -> World:
        return self._world

    def add_role(
        self,
        role_name: str,
        *,
        external_id: str | None = None,
        trusted: Iterable[str] | None = None,
        max_session_seconds: int = 3600,
    ) -> str:
        """A role in this account that STS AssumeRole lets the `trusted` accounts' principals assume
        (default: the home account), with `external_id` if given (then required). Returns its ARN."""
        if not 3600 <= max_session_seconds <= 43200:
            raise ValueError("a role's maximum session duration is 3600..43200 seconds")
        if external_id is not None and sts.validate_external_id(external_id):
            raise ValueError(f"invalid external id {external_id!r}: {sts.validate_external_id(external_id)}")
        with self._lock:
            role = sts.Role(
                self.account_id,
                role_name,
                "AROA" + det_hex(self.seed, "role", self.account_id, role_name, length=17).upper(),
                external_id,
                frozenset(trusted) if trusted is not None else frozenset({self._world.home}),
                max_session_seconds,
            )
            self._world.sts.roles[(self.account_id, role_name)] = role
            return role.arn

    def refuse_assume_role(self, role_name: str) -> None:
        """Fault: STS refuses to let anyone assume this role (AccessDenied), until clear_faults()."""
        with self._lock:
            role = self._world.sts.roles.get((self.account_id, role_name))
            if role is None:
                raise ValueError(f"no role {role_name} in account {self.account_id} (add_role first)")
            role.assumable = False

    def deny(self, operation: str, service: str = "drs") -> None:
        """Fault: callers in this account lack the permission for `operation` of `service` (drs, ec2 or
        ssm), until clear_faults(): AccessDeniedException (EC2: UnauthorizedOperation) naming the caller."""
        known = {
            "drs": lambda: model.service_model()["operations"],
            "ec2": lambda: shapes.service_model("ec2")["operations"],
            "ssm": lambda: shapes.service_model("ssm")["operations"],
        }
        if service not in known:
            raise ValueError(f"service is drs, ec2 or ssm, not {service!r}")
        if operation not in known[service]():
            raise ValueError(f"{operation} is not an operation of {service}")
        with self._lock:
            self._denied.add((service, operation))

    def denial(
        self, service: str, operation: str, caller: sts.Identity | None, region: str
    ) -> tuple[str, int, str] | None:
        """(code, HTTP status, message) when `deny` took this permission away, else None."""
        if (service, operation) not in self._denied:
            return None
        code, status = _DENIED[service]
        who = (caller or self._world.home_identity).arn
        action = f"{service}:{operation}"
        resource = f"arn:aws:{service}:{region}:{self.account_id}:*"
        message = (
            f"User: {who} is not authorized to perform: {action} on resource: {resource} "
            f"because no identity-based policy allows the {action} action"
        )
        if service == "ec2":
            message = (
                f"You are not authorized to perform this operation. User: {who} is not authorized to perform: "
                f"{action} because no identity-based policy allows the {action} action"
            )
        return code, status, message

    def _region(self, name: str) -> RegionState:
        if name not in self._regions:
            self._regions[name] = RegionState(name=name, account=self.account_id)
        return self._regions[name]

    def _now(self) -> datetime:
        now = self.clock.now()
        if self._last_now is not None and now < self._last_now:
            now = self._last_now  # a clock must never make time run backwards for the lifecycles
        self._last_now = now
        return now

    def now(self) -> datetime:
        with self._lock:
            return self._now()

    @property
    def regions(self) -> list[str]:
        with self._lock:
            return list(self._regions)

    def initialize_region(self, region: str) -> None:
        with self._lock:
            self._region(region).initialized = True

    def _find_server(self, source_server_id: str) -> tuple[RegionState, SourceServer]:
        for region in self._regions.values():
            if source_server_id in region.servers:
                return region, region.servers[source_server_id]
        raise KeyError(f"no source server {source_server_id}")

    # ----- seeding -----------------------------------------------------------------------------
    def add_source_servers(
        self,
        region: str,
        ids: Iterable[str] | None = None,
        count: int | None = None,
        tags: dict[str, str] | None = None,
        replication_state: str = "CONTINUOUS",
        lag: str | float | timedelta = "P0D",
        *,
        hostnames: Iterable[str] | None = None,
        origin_region: str | None = None,
        replicating_since: datetime | None = None,
    ) -> list[str]:
        """Seed source servers; ids are generated (s- + 17 lowercase hex, seeded) when count is given."""
        if replication_state not in REPLICATION_STATES:
            raise ValueError(f"unknown replication state {replication_state}")
        id_list = list(ids) if ids is not None else []
        if count is not None:
            id_list += [None] * count  # type: ignore[list-item]
        if not id_list:
            raise ValueError("give ids or a count")
        names = list(hostnames) if hostnames is not None else []
        lag_seconds = parse_duration(lag)
        with self._lock:
            now = self._now()
            state = self._region(region)
            if len(state.servers) + len(id_list) > self.quotas.source_servers_per_region:
                raise ValueError("source server quota for the region exceeded")
            added = replicating_since or now - timedelta(days=8)
            created = []
            for i, sid in enumerate(id_list):
                if sid is not None and not _valid_server_id(sid):
                    raise ValueError(f"invalid source server id {sid!r}")
                if sid is not None and self._world.server_exists(sid):
                    raise ValueError(f"source server {sid} already exists")
                server = self._new_server(
                    state,
                    server_id=sid,
                    hostname=names[i] if i < len(names) else None,
                    tags=tags,
                    origin_region=origin_region or self._default_origin(region),
                    added_at=added,
                )
                self._seed_replication(server, replication_state, lag_seconds, now)
                created.append(server.id)
            return created

    def _default_origin(self, region: str) -> str:
        others = [r for r in self.initial_regions if r != region]
        if others:
            return others[0]
        return "us-west-2" if region != "us-west-2" else "us-east-1"

    def _new_server(
        self,
        state: RegionState,
        *,
        server_id: str | None = None,
        hostname: str | None = None,
        tags: dict[str, str] | None = None,
        origin_region: str,
        origin_instance_id: str | None = None,
        direction: str = "FAILOVER",
        added_at: datetime | None = None,
    ) -> SourceServer:
        state.server_seq += 1
        seq = state.server_seq
        if server_id is None:
            salt = 0
            while True:
                server_id = "s-" + det_hex(self.seed, "source-server", state.name, seq, salt)
                if not self._world.server_exists(server_id):
                    break
                salt += 1
        name = hostname or f"server-{seq:03d}"
        s = self.seed
        hardware = Hardware(
            hostname=name,
            disk_bytes=det_int(s, 8, 200, "disk", server_id) * 1024**3,
            cores=det_int(s, 1, 4, "cores", server_id) * 2,
            ram_bytes=det_int(s, 1, 8, "ram", server_id) * 4 * 1024**3,
            mac=":".join(det_hex(s, "mac", server_id, length=12)[i : i + 2] for i in range(0, 12, 2)),
            ip=".".join(
                [
                    "10",
                    str(det_int(s, 0, 255, "ip1", server_id)),
                    str(det_int(s, 0, 255, "ip2", server_id)),
                    str(seq % 250 + 4),
                ]
            ),
        )
        now = self._last_now or self.clock.now()
        added = added_at or now
        server = SourceServer(
            id=server_id,
            region=state.name,
            account=self.account_id,
            seq=seq,
            hardware=hardware,
            tags={"Name": name, **(tags or {})},
            added_at=added,
            state="INITIATING",
            state_since=added,
            origin_region=origin_region,
            origin_instance_id=origin_instance_id or "i-" + det_hex(s, "origin", server_id),
            launch_template_id="lt-" + det_hex(s, "lt", server_id),
            direction=direction,
        )
        state.servers[server_id] = server
        return server

    def _seed_replication(self, server: SourceServer, state: str, lag: float, now: datetime) -> None:
        if state in _NEVER_REPLICATED:
            server.set_state(state, now)
            return
        healthy_from = min(server.added_at + timedelta(seconds=self.timings.initial_sync), now)
        server.set_state(HEALTHY_STATE, healthy_from)
        if state == HEALTHY_STATE:
            server.lag_override = lag
        else:
            # The server replicated fine until `lag` ago: its snapshots stop there.
            server.set_state(state, max(healthy_from, now - timedelta(seconds=lag)))
            server.lag_override = 0.0

    def extend_source_server(
        self, staging_account: str, source_server_id: str, *, tags: dict[str, str] | None = None
    ) -> str:
        """Extend a source server of `staging_account` into this account (what CreateExtendedSourceServer
        does): a new server here, in the same region, whose stagingArea is EXTENDED and whose
        replication and snapshots are the staging server's; it launches here like any other. Returns
        its id."""
        with self._lock:
            now = self._now()
            staging_region, staging = self.account(staging_account)._find_server(source_server_id)
            if not self._region(staging_region.name).initialized:
                raise ValueError(f"account {self.account_id} does not serve {staging_region.name}")
            params = {"sourceServerArn": staging.arn, **({"tags": tags} if tags else {})}
            try:
                body = create_extended_source_server(self._ctx(staging_region.name, now), params)
            except DrsError as error:
                raise ValueError(f"cannot extend {staging.arn}: {error.message}") from None
            server_id: str = body["sourceServer"]["sourceServerID"]
            return server_id

    def set_replication_state(
        self, source_server_id: str, state: str, lag: str | float | timedelta | None = None
    ) -> None:
        if state not in REPLICATION_STATES:
            raise ValueError(f"unknown replication state {state}")
        with self._lock:
            now = self._now()
            self._advance(now)
            region, server = self._find_server(source_server_id)
            if server.staging is not None:
                raise ValueError(
                    f"{source_server_id} is extended from {server.staging.arn}: its replication is that "
                    "server's, set it there"
                )
            server.sync(now)
            server.schedule.clear()
            was_stalled = server.state == "STALLED"
            if server.state != state:
                server.set_state(state, now)
            server.lag_override = parse_duration(lag) if lag is not None else 0.0
            if was_stalled != (state == "STALLED"):
                stalled = self._stalled_event(server.arn, region.name, state == "STALLED", now)
                self._events.append(stalled)
                self._outbox.append(stalled)
        self._flush()

    def _stalled_event(self, arn: str, region: str, stalled: bool, now: datetime) -> dict[str, Any]:
        """DRS's event when replication stalls and when it no longer does. Its detail is not documented;
        MGN documents the same event with `state` STALLED / NOT_STALLED, and that is what is sent."""
        event_id = det_hex(self.seed, "stalled", arn, now.isoformat(), length=32)
        return {
            "version": "0",
            "id": "-".join((event_id[:8], event_id[8:12], event_id[12:16], event_id[16:20], event_id[20:])),
            "source": "aws.drs",
            "detail-type": "DRS Source Server Data Replication Stalled Change",
            "account": self.account_id,
            "time": fmt_event_time(now),
            "region": region,
            "resources": [arn],
            "detail": {"state": "STALLED" if stalled else "NOT_STALLED"},
        }

    # ----- launch faults -----------------------------------------------------------------------
    def fail_launch(
        self,
        source_server_id: str,
        error: str | None = None,
        *,
        event: str = "LAUNCH_FAILED",
        times: int | None = None,
    ) -> None:
        """Make this server's launch end FAILED (inside an otherwise COMPLETED job) with the job log
        `event` (one of lifecycle.FAILURES), carrying `error` as its rawError. Applies to a launch
        already running if it has not passed that point, else to the next one; `times` limits how many
        launches fail (None: until clear_faults())."""
        if event not in lifecycle.FAILURES:
            raise ValueError(f"event must be one of {', '.join(lifecycle.FAILURES)}, not {event!r}")
        with self._lock:
            now = self._now()
            self._advance(now)
            region, server = self._find_server(source_server_id)
            default = DEFAULT_LAUNCH_ERROR if event in _LAUNCH_TEMPLATE_EVENTS else DEFAULT_FAILURE
            text = error or default.format(
                event=event,
                source_server_id=server.id,
                account=self.account_id,
                role=self._launching_role(),
                region=region.name,
                launch_template_id=server.launch_template_id,
            )
            server.launch_failure = LaunchFailure(text, event, times)
            running = self._running(region, server.id)
            if running:
                job, run = running
                if run.mode != "SKIP" and lifecycle.replan_allowed(
                    job, run, self.timings, failure=server.launch_failure
                ):
                    consume_failure(server)
        self._flush()

    def slow_conversion(self, source_server_id: str, extra_seconds: float) -> None:
        """Add emulated seconds to this server's conversion (this launch if still converting, and later)."""
        with self._lock:
            now = self._now()
            self._advance(now)
            region, server = self._find_server(source_server_id)
            server.extra_conversion = float(extra_seconds)
            running = self._running(region, server.id)
            if running:
                job, run = running
                lifecycle.replan_allowed(job, run, self.timings, extra=float(extra_seconds))
        self._flush()

    def hold_reverse_readiness(self, resource_id: str, seconds: float | None = None) -> None:
        """Keep recovery instances not ready for ReverseReplication (ConflictException) for `seconds`
        more, or (None) until clear_faults(). `resource_id` is a recovery instance, or a source server:
        then its instances now and those its later launches create."""
        if seconds is not None and not 0 <= seconds < math.inf:
            raise ValueError("seconds must be a finite number >= 0 (omit it for never)")
        hold = math.inf if seconds is None else float(seconds)
        with self._lock:
            now = self._now()
            self._advance(now)
            instances = [
                instance
                for region in self._regions.values()
                for instance in region.instances.values()
                if resource_id in (instance.id, instance.source_server_id)
            ]
            servers = [
                server
                for region in self._regions.values()
                for server in region.servers.values()
                if server.id == resource_id
            ]
            if not instances and not servers:
                raise ValueError(f"no recovery instance or source server {resource_id}")
            for server in servers:
                server.reverse_not_ready = hold
            for instance in instances:
                running = (
                    (now - instance.running_since).total_seconds() - self.timings.agent_check_in
                    if instance.running_since
                    else 0.0
                )
                instance.not_ready_for = max(0.0, running) + hold
        self._flush()

    def _launching_role(self) -> str:
        """Whose permissions a launch here uses (DRS launches with the caller's): the bot's own role at
        home, its role in another account."""
        if self.account_id == self._world.home:
            return sts.HOME_ROLE
        names = [name for (account, name) in self._world.sts.roles if account == self.account_id]
        return names[0] if names else sts.HOME_ROLE

    def _running(self, region: RegionState, server_id: str) -> Any:
        for job in region.active.values():
            if job.type == "LAUNCH":
                for run in job.runs:
                    if run.source_server_id == server_id:
                        return job, run
        return None

    # ----- API faults --------------------------------------------------------------------------
    def inject_fault(
        self,
        operation: str,
        error: str = "ThrottlingException",
        count: int | None = None,
        rate: float | None = None,
        retry_after: int = 1,
        message: str | None = None,
    ) -> None:
        """Fail the next `count` calls of `operation` ("*" for all), or a seeded `rate` of them, or
        (neither given) every call until clear_faults()."""
        with self._lock:
            self._faults.add(Fault(operation, error, count, rate, retry_after, message))

    def clear_faults(self) -> None:
        """Remove injected API faults, launch failures, slow conversions, held reverse readiness and
        instance health faults."""
        with self._lock:
            self._faults.clear()
            self._instance_faults.clear()
            self._denied.clear()
            for (account, _), role in self._world.sts.roles.items():
                if account == self.account_id:
                    role.assumable = True
            for region in self._regions.values():
                for server in region.servers.values():
                    server.launch_failure = None
                    server.extra_conversion = 0.0
                    server.reverse_not_ready = 0.0
                for instance in region.instances.values():
                    instance.not_ready_for = 0.0

    @property
    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults.faults]

    # ----- observation -------------------------------------------------------------------------
    @property
    def calls(self) -> list[CallRecord]:
        """Every API call so far (a copy)."""
        with self._lock:
            return list(self._calls)

    def clear_calls(self) -> None:
        with self._lock:
            self._calls.clear()

    def launch_results(self) -> list[LaunchResult]:
        """Every server launch that reached LAUNCHED or FAILED, in time order."""
        with self._lock:
            self._advance(self._now())
            results = list(self._launches)
        self._flush()
        return results

    def server_launch_times(self) -> dict[str, datetime]:
        """Source server id -> when its latest launch reached LAUNCHED or FAILED."""
        return {r.source_server_id: r.time for r in self.launch_results()}

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every EventBridge-shaped event emitted so far."""
        with self._lock:
            return copy.deepcopy(self._events)

    def subscribe(self, callback: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
        """Call `callback(event)` (outside the lock) for each launch result; returns an unsubscribe."""
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def advance_all(self) -> list[dict[str, Any]]:
        """Bring every lifecycle of every account up to the clock's now and deliver the events that
        produces. (An API call moves only its own account's lifecycles: no per-call work grows with the
        number of accounts.)"""
        with self._lock:
            accounts = list(self._world.accounts.values())
            events = [event for account in accounts for event in account._advance(account._now())]
        for account in accounts:
            account._flush()
        return copy.deepcopy(events)

    def _advance(self, now: datetime) -> list[dict[str, Any]]:
        outcomes: list[lifecycle.LaunchOutcome] = []
        for region in self._regions.values():
            outcomes += lifecycle.advance(region, now, self.seed, self.timings)
        outcomes.sort(key=lambda o: o.at)
        events = []
        for o in outcomes:
            self._launches.append(
                LaunchResult(
                    o.region,
                    o.job_id,
                    o.source_server_id,
                    o.status,
                    o.at,
                    o.is_drill,
                    o.recovery_instance_id,
                    o.error,
                )
            )
            events.append(self._event(o))
        self._events += events
        self._outbox += events
        return events

    def _event(self, o: lifecycle.LaunchOutcome) -> dict[str, Any]:
        kind = "DRILL" if o.is_drill else "RECOVERY"
        result = "SUCCEEDED" if o.status == "LAUNCHED" else "FAILED"
        event_id = det_hex(self.seed, "event", o.job_id, o.source_server_id, length=32)
        return {
            "version": "0",
            "id": "-".join((event_id[:8], event_id[8:12], event_id[12:16], event_id[16:20], event_id[20:])),
            "source": "aws.drs",
            "detail-type": "DRS Source Server Launch Result",
            "account": self.account_id,
            "time": fmt_event_time(o.at),
            "region": o.region,
            "resources": [o.source_server_arn],
            "detail": {
                "state": f"{kind}_LAUNCH_{result}",
                "job-id": o.job_id,
                "source-server-id": o.source_server_id,
            },
        }

    def _flush(self) -> None:
        """Deliver queued events to subscribers; called with the lock released."""
        with self._lock:
            events, self._outbox = self._outbox, []
            subscribers = list(self._subscribers)
        for event in events:
            for callback in subscribers:
                try:
                    callback(copy.deepcopy(event))
                except Exception:  # a broken subscriber must not break the API call that advanced time
                    log.exception("DRS emulator event subscriber failed")

    # ----- the API -----------------------------------------------------------------------------
    def handle(
        self,
        operation: str,
        region: str,
        params: dict[str, Any] | None,
        *,
        caller: sts.Identity | None = None,
    ) -> ApiResponse:
        """Serve one DRS API call. `params` None means the request body could not be parsed; `caller`
        is who signed it (None: the home account's own role)."""
        with self._lock:
            now = self._now()
            self._advance(now)
            record = CallRecord(len(self._calls) + 1, operation, region, copy.deepcopy(params or {}), now)
            record.caller = (caller or self._world.home_identity).arn
            self._calls.append(record)
            denied = self.denial("drs", operation, caller, region)
            if denied:
                # IAM answers in front of the service, for any operation, whether or not the operation's
                # model lists AccessDeniedException.
                code, status, message = denied
                record.status, record.error, record.error_message = status, code, message
                response = ApiResponse(status, {"message": message}, {"x-amzn-ErrorType": code})
            else:
                response = self._serve(record, operation, region, params, now)
        self._flush()
        return response

    def _serve(
        self, record: CallRecord, operation: str, region: str, params: dict[str, Any] | None, now: datetime
    ) -> ApiResponse:
        try:
            status, body = self._dispatch(operation, region, params, now)
            record.status = status
            if operation in MUTATING:
                record.response = copy.deepcopy(body)
            return ApiResponse(status, body, {})
        except DrsError as exc:
            if not model.may_answer(operation, exc.code, exc.reason):
                # A bug of the emulator, told loudly: DRS never answers this error for this operation.
                log.error("DRS emulator: %s answered %s, which its model does not list", operation, exc.code)
                exc = DrsError(
                    "InternalServerException",
                    f"DRS emulator bug: {operation} may not answer {exc.code} ({exc.message})",
                )
            record.status, record.error, record.error_message = exc.status, exc.code, exc.message
            return ApiResponse(exc.status, exc.body(), {"x-amzn-ErrorType": exc.code, **exc.headers})

    def _dispatch(
        self, operation: str, region: str, params: dict[str, Any] | None, now: datetime
    ) -> tuple[int, dict[str, Any] | None]:
        if operation not in model.SUPPORTED_OPERATIONS:
            known = operation in model.service_model()["operations"]
            what = "is not implemented by the DRS emulator" if known else "is not a DRS operation"
            raise errors.validation(f"Operation {operation} {what}", "unknownOperation")
        fault = self._faults.check(operation, region, self.account_id)
        if fault:
            raise fault
        if params is None:
            raise errors.validation("Could not parse the request body as JSON", "cannotParse")
        input_shape = model.operation(operation).get("input", {}).get("shape")
        if input_shape:
            issues = model.validate(input_shape, params)
            if issues:
                raise errors.from_issues(issues)
        state = self._region(region)
        if not state.initialized and "UninitializedAccountException" in model.listed_errors(operation):
            raise errors.uninitialized(region)
        body = HANDLERS[operation](self._ctx(region, now), params)
        return model.success_code(operation), body

    def _ctx(self, region: str, now: datetime) -> Ctx:
        return Ctx(
            self._region(region),
            now,
            self.seed,
            self.quotas,
            self.timings,
            self._region,
            self._new_server,
            self._world.server_by_arn,
        )

    def set_instance_health(
        self,
        source_server_id: str,
        *,
        status_check_fails: bool | None = None,
        agent_offline: bool | None = None,
        command: str | None = None,
    ) -> None:
        """Faults of the recovery instances this server launches (now or later): an instance status
        check that fails, an SSM agent that never comes Online, a Run Command that is "failing" (exits
        1) or "hanging" (never ends). clear_faults() and reset() end them."""
        if command not in (None, "success", "failing", "hanging"):
            raise ValueError(f"command is success, failing or hanging, not {command!r}")
        with self._lock:
            self._find_server(source_server_id)
            faults = self._instance_faults.setdefault(source_server_id, instance_health.InstanceFaults())
            if status_check_fails is not None:
                faults.status_check_fails = status_check_fails
            if agent_offline is not None:
                faults.agent_offline = agent_offline
            if command is not None:
                faults.command = command

    def handle_service(
        self,
        service: str,
        operation: str,
        region: str,
        params: dict[str, Any] | None,
        *,
        caller: sts.Identity | None = None,
    ) -> tuple[int, dict[str, Any] | instance_health.ApiError]:
        """Serve one EC2 or SSM call about the recovery instances: (HTTP status, the result in the
        model's member names, or the error). Recorded with the DRS calls, on the same clock."""
        handlers = {"ec2": ec2.EC2_HANDLERS, "ssm": ssm.SSM_HANDLERS}[service]
        with self._lock:
            now = self._now()
            self._advance(now)
            record = CallRecord(len(self._calls) + 1, operation, region, copy.deepcopy(params or {}), now)
            record.caller = (caller or self._world.home_identity).arn
            self._calls.append(record)
            try:
                if denied := self.denial(service, operation, caller, region):
                    raise instance_health.ApiError(denied[0], denied[2], denied[1])
                if operation not in handlers:
                    raise instance_health.ApiError(
                        "InvalidAction" if service == "ec2" else "UnknownOperationException",
                        f"The action {operation} is not served by the emulator",
                    )
                if params is None:
                    raise instance_health.ApiError("SerializationException", "Could not parse the request")
                model = shapes.service_model(service)["operations"][operation]
                if service == "ssm" and (issues := shapes.problems(service, model["input"]["shape"], params)):
                    raise instance_health.ApiError("ValidationException", "; ".join(issues))
                ctx = instance_health.Ctx(
                    self._region(region), now, self.timings, self._instance_faults, self.seed
                )
                result = handlers[operation](ctx, params)
                output = shapes.output_shape(service, operation)
                if output and (issues := shapes.problems(service, output, result)):
                    # A bug of the emulator, told loudly: the service never sends this.
                    raise instance_health.ApiError("InternalError", f"emulator bug: {'; '.join(issues)}", 500)
                record.status = 200
                record.response = ssm.to_json(copy.deepcopy(result))  # kept: tests read what health was seen
                outcome: tuple[int, dict[str, Any] | instance_health.ApiError] = (200, result)
            except instance_health.ApiError as error:
                record.status, record.error, record.error_message = error.status, error.code, error.message
                outcome = (error.status, error)
        self._flush()
        return outcome

    def state_summary(self) -> dict[str, Any]:
        """A compact view of the world for the admin API and debugging."""
        with self._lock:
            now = self._now()
            self._advance(now)
            summary = {
                "now": fmt_time(now),
                "regions": {
                    name: {
                        "initialized": r.initialized,
                        "sourceServers": len(r.servers),
                        "jobs": len(r.jobs),
                        "activeJobs": sorted(r.active),
                        "recoveryInstances": len(r.instances),
                    }
                    for name, r in self._regions.items()
                },
            }
        self._flush()
        return summary


def _valid_server_id(sid: str) -> bool:
    return not model.validate("SourceServerID", sid)
