"""A fake of Lambda's Invoke API, so Bolt's lazy listeners run locally as they do on AWS.

On Lambda, Bolt's SlackRequestHandler re-invokes its own function ARN with
InvocationType=Event; boto3 sends that to $AWS_ENDPOINT_URL_LAMBDA when it is set. This
server answers `POST /2015-03-31/functions/{FunctionName}/invocations` like Lambda:
Event -> 202 at once and the handler runs on a worker thread; RequestResponse -> the
handler's JSON result, with `X-Amz-Function-Error: Unhandled` when it raised.

Like Lambda's asynchronous queue it can deliver an event twice (`duplicate_async`) or
late (`async_delay_seconds`), so tests can prove the lazy work is idempotent.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sandbox.local_http import LocalHTTPServer

log = logging.getLogger(__name__)

Handler = Callable[[Any, Any], Any]

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 1024 * 1024
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
_PARTIAL_ARN = re.compile(r"^\d{12}:function:(?P<rest>.+)$")


class LambdaContext:
    """The attributes and method of the context object Lambda's Python runtime passes."""

    def __init__(
        self,
        *,
        function_name: str,
        invoked_function_arn: str,
        aws_request_id: str,
        timeout_seconds: float,
        memory_limit_in_mb: int,
        function_version: str,
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.invoked_function_arn = invoked_function_arn
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = aws_request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[{function_version}]{uuid.uuid4().hex}"
        self.identity: Any = None
        self.client_context: Any = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext({self.function_name!r}, request_id={self.aws_request_id!r})"


def function_arn(
    function_name: str,
    *,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT,
    qualifier: str | None = None,
) -> str:
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def make_context(
    function_name: str,
    *,
    timeout_seconds: float = 60,
    memory_limit_in_mb: int = 512,
    region: str = DEFAULT_REGION,
    account_id: str = DEFAULT_ACCOUNT,
    aws_request_id: str | None = None,
    invoked_function_arn: str | None = None,
    function_version: str = "$LATEST",
) -> LambdaContext:
    """A context for calling a handler directly (e.g. the sandbox's synchronous Slack request).
    Its invoked_function_arn is the ARN Bolt will re-invoke for lazy listeners."""
    return LambdaContext(
        function_name=function_name,
        invoked_function_arn=invoked_function_arn
        or function_arn(function_name, region=region, account_id=account_id),
        aws_request_id=aws_request_id or str(uuid.uuid4()),
        timeout_seconds=timeout_seconds,
        memory_limit_in_mb=memory_limit_in_mb,
        function_version=function_version,
    )


def parse_function_name(raw: str) -> tuple[str, str | None]:
    """(name, qualifier) from a name, "name:qualifier", a partial ARN or a full ARN."""
    value = unquote(raw)
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) < 7 or parts[5] != "function":
            return value, None
        return parts[6], parts[7] if len(parts) > 7 else None
    partial = _PARTIAL_ARN.match(value)
    if partial:
        value = partial.group("rest")
    name, _, qualifier = value.partition(":")
    return name, qualifier or None


@dataclass
class Registration:
    name: str
    handler: Handler
    timeout_seconds: float
    memory_limit_in_mb: int


@dataclass
class Invocation:
    """One delivery of an invocation to a handler (a duplicate delivery is a second record
    with the same request_id and delivery=2)."""

    request_id: str
    function_name: str
    invoked_function_arn: str
    invocation_type: str
    payload: Any
    delivery: int = 1
    attempt: int = 1
    status: str = "queued"  # queued | running | succeeded | failed | timed_out | abandoned
    result: Any = None
    error: str | None = None
    error_traceback: str | None = None
    queued_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None


@dataclass
class _Outcome:
    status: str
    result: Any = None
    error_type: str | None = None
    error_message: str | None = None
    stack: list[str] = field(default_factory=list)


class FakeLambda:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        duplicate_async: bool = False,
        async_delay_seconds: float = 0.0,
        async_retry_attempts: int = 0,
        region: str = DEFAULT_REGION,
        account_id: str = DEFAULT_ACCOUNT,
    ) -> None:
        self._address = (host, port)
        self.duplicate_async = duplicate_async
        self.async_delay_seconds = async_delay_seconds
        # Real Lambda retries a failed async event twice (after minutes); off by default here.
        self.async_retry_attempts = async_retry_attempts
        self.region = region
        self.account_id = account_id
        self._functions: dict[str, Registration] = {}
        self._invocations: list[Invocation] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- set-up and lifecycle ----------------------------------------------------------------
    def register(
        self,
        function_name: str,
        handler: Handler,
        *,
        timeout_seconds: float = 60,
        memory_limit_in_mb: int = 512,
    ) -> None:
        with self._lock:
            self._functions[function_name] = Registration(
                function_name, handler, timeout_seconds, memory_limit_in_mb
            )

    def start(self) -> FakeLambda:
        if self._server is None:
            self._stopping.clear()
            self._server = _Server(self._address, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},  # stop() waits one poll
                name="fake-lambda",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering; delayed deliveries not yet started are abandoned."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeLambda:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Endpoint for boto3 (`endpoint_url=` or AWS_ENDPOINT_URL_LAMBDA)."""
        if self._server is None:
            raise RuntimeError("FakeLambda is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def endpoint_env(self) -> dict[str, str]:
        """Environment that points boto3's Lambda clients here."""
        return {"AWS_ENDPOINT_URL_LAMBDA": self.url}

    # -- inspection ------------------------------------------------------------------------------
    @property
    def invocations(self) -> list[Invocation]:
        """Snapshots of every delivery so far, in the order they were accepted."""
        with self._lock:
            return [replace(i) for i in self._invocations]

    def reset(self) -> None:
        """Forget recorded invocations (registrations and options stay)."""
        with self._lock:
            self._invocations.clear()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no async delivery is queued or running. Returns False (and logs what is
        still busy) if that did not happen within `timeout` seconds."""
        with self._idle:
            if self._idle.wait_for(lambda: self._pending == 0, timeout=timeout):
                return True
            busy = [
                f"{i.function_name}:{i.request_id}:{i.status}"
                for i in self._invocations
                if i.status in ("queued", "running")
            ]
        log.warning("fake lambda: async invocations still busy after %ss: %s", timeout, busy)
        return False

    # -- invoking ----------------------------------------------------------------------------------
    def lookup(self, raw_name: str) -> tuple[Registration | None, str | None]:
        name, qualifier = parse_function_name(raw_name)
        with self._lock:
            return self._functions.get(name), qualifier

    def arn_for(self, raw_name: str, registration: Registration, qualifier: str | None) -> str:
        value = unquote(raw_name)
        if value.startswith("arn:"):
            return value
        return function_arn(
            registration.name, region=self.region, account_id=self.account_id, qualifier=qualifier
        )

    def invoke_sync(self, registration: Registration, arn: str, payload: Any) -> tuple[Invocation, _Outcome]:
        invocation = self._record(
            Invocation(
                request_id=str(uuid.uuid4()),
                function_name=registration.name,
                invoked_function_arn=arn,
                invocation_type="RequestResponse",
                payload=payload,
            )
        )
        return invocation, self._run(registration, invocation)

    def invoke_async(self, registration: Registration, arn: str, payload: Any) -> str:
        request_id = str(uuid.uuid4())
        deliveries = 2 if self.duplicate_async else 1
        for delivery in range(1, deliveries + 1):
            invocation = self._record(
                Invocation(
                    request_id=request_id,
                    function_name=registration.name,
                    invoked_function_arn=arn,
                    invocation_type="Event",
                    payload=payload,
                    delivery=delivery,
                )
            )
            with self._lock:
                self._pending += 1
            threading.Thread(
                target=self._deliver,
                args=(registration, invocation, self.async_delay_seconds),
                name=f"fake-lambda-{registration.name}",
                daemon=True,
            ).start()
        return request_id

    def _record(self, invocation: Invocation) -> Invocation:
        with self._lock:
            self._invocations.append(invocation)
        return invocation

    def _deliver(self, registration: Registration, invocation: Invocation, delay: float) -> None:
        try:
            if delay > 0 and self._stopping.wait(delay):
                self._set(invocation, status="abandoned", finished_at=time.time())
                return
            outcome = self._run(registration, invocation)
            for attempt in range(2, self.async_retry_attempts + 2):
                if outcome.status == "succeeded" or self._stopping.is_set():
                    break
                self._set(invocation, attempt=attempt)
                outcome = self._run(registration, invocation)
        finally:
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def _run(self, registration: Registration, invocation: Invocation) -> _Outcome:
        """Run the handler with Lambda's deadline; a handler past it is left to finish on its own
        thread (Python threads cannot be killed) and the invocation counts as timed out."""
        context = make_context(
            registration.name,
            timeout_seconds=registration.timeout_seconds,
            memory_limit_in_mb=registration.memory_limit_in_mb,
            aws_request_id=invocation.request_id,
            invoked_function_arn=invocation.invoked_function_arn,
        )
        self._set(invocation, status="running", started_at=time.time())
        box: list[_Outcome] = []
        worker = threading.Thread(
            target=lambda: box.append(_call(registration.handler, invocation.payload, context)),
            name=f"lambda-{registration.name}-{invocation.request_id[:8]}",
            daemon=True,
        )
        worker.start()
        worker.join(registration.timeout_seconds)
        outcome = (
            box[0]
            if box
            else _Outcome(
                "timed_out",
                error_type="Sandbox.Timedout",
                error_message=f"Task timed out after {registration.timeout_seconds:.2f} seconds",
            )
        )
        error = f"{outcome.error_type}: {outcome.error_message}" if outcome.error_type else None
        self._set(
            invocation,
            status=outcome.status,
            result=outcome.result,
            error=error,
            error_traceback="".join(outcome.stack) or None,
            finished_at=time.time(),
        )
        if outcome.status != "succeeded":
            log.warning(
                "fake lambda %s (%s, %s) %s: %s",
                registration.name,
                invocation.invocation_type,
                invocation.request_id,
                outcome.status,
                error,
            )
        return outcome

    def _set(self, invocation: Invocation, **changes: Any) -> None:
        with self._lock:
            for key, value in changes.items():
                setattr(invocation, key, value)


def _call(handler: Handler, payload: Any, context: LambdaContext) -> _Outcome:
    try:
        result = handler(payload, context)
    except Exception as exc:  # a handler's exception is an outcome to report, not a crash
        return _Outcome(
            "failed",
            error_type=type(exc).__name__,
            error_message=str(exc),
            stack=traceback.format_exception(exc),
        )
    try:
        json.dumps(result)  # Lambda must serialise the result, and fails the call if it cannot
    except (TypeError, ValueError) as exc:
        return _Outcome("failed", error_type="Runtime.MarshalError", error_message=str(exc))
    return _Outcome("succeeded", result=result)


class _Server(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], fake: FakeLambda) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake lambda: " + format, *args)

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        match = _INVOKE_PATH.match(parts.path)
        if match is None:
            self._error(404, "UnknownOperationException", f"no such operation: POST {parts.path}")
            return
        self._invoke(match.group("name"), dict(parse_qsl(parts.query)).get("Qualifier"), raw)

    def do_GET(self) -> None:
        self._error(404, "UnknownOperationException", f"no such operation: GET {self.path}")

    def _invoke(self, raw_name: str, query_qualifier: str | None, raw: bytes) -> None:
        fake = self.server.fake
        registration, qualifier = fake.lookup(raw_name)
        if registration is None:
            arn = (
                unquote(raw_name)
                if raw_name.startswith("arn")
                else function_arn(unquote(raw_name), region=fake.region, account_id=fake.account_id)
            )
            self._error(404, "ResourceNotFoundException", f"Function not found: {arn}")
            return
        kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        if kind not in ("Event", "RequestResponse", "DryRun"):
            self._error(400, "InvalidParameterValueException", f"invalid InvocationType {kind!r}")
            return
        limit = MAX_ASYNC_PAYLOAD if kind == "Event" else MAX_SYNC_PAYLOAD
        if len(raw) > limit:
            self._error(413, "RequestTooLargeException", f"Request must be smaller than {limit} bytes")
            return
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            self._error(400, "InvalidRequestContentException", "Could not parse request body into json")
            return
        arn = fake.arn_for(raw_name, registration, qualifier or query_qualifier)
        if kind == "DryRun":
            self._send(204, b"")
        elif kind == "Event":
            request_id = fake.invoke_async(registration, arn, payload)
            self._send(202, b"", {"x-amzn-RequestId": request_id})
        else:
            self._answer_sync(*fake.invoke_sync(registration, arn, payload))

    def _answer_sync(self, invocation: Invocation, outcome: _Outcome) -> None:
        headers = {"x-amzn-RequestId": invocation.request_id, "X-Amz-Executed-Version": "$LATEST"}
        if outcome.status == "succeeded":
            self._send(200, json.dumps(outcome.result).encode(), headers)
            return
        headers["X-Amz-Function-Error"] = "Unhandled"
        body = {
            "errorMessage": outcome.error_message,
            "errorType": outcome.error_type,
            "requestId": invocation.request_id,
            "stackTrace": [line.rstrip("\n") for line in outcome.stack],
        }
        self._send(200, json.dumps(body).encode(), headers)

    def _error(self, status: int, error_type: str, message: str) -> None:
        body = json.dumps({"Type": "User", "Message": message, "message": message}).encode()
        self._send(status, body, {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": str(uuid.uuid4())})

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
