"""HTTP front end: rest-json DRS for boto3 (region from the SigV4 credential scope) plus /_emulator/."""

from __future__ import annotations

import functools
import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from bot.domain.strict_json import DocumentError, load_json
from sandbox.local_http import LocalHTTPServer

from . import admin, ec2, model, ssm, ssm_automation, sts
from .emulator import DrsEmulator
from .instance_health import ApiError

# SSM (JSON 1.1, `X-Amz-Target: AmazonSSM.<Op>`) served beside DRS: the hooks' automations here; the
# health checks' SSM operations (ssm.SSM_HANDLERS) through the emulator's handle_service.
SSM_OPERATIONS: dict[str, Any] = {
    name: functools.partial(ssm_automation.handle, operation=name) for name in ssm_automation.HANDLERS
}

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


def region_from_authorization(header: str | None) -> tuple[str | None, str | None]:
    """(region, service) from a SigV4 Authorization header's credential scope."""
    match = _SCOPE.search(header or "")
    return (match.group(2), match.group(3)) if match else (None, None)


def access_key_from_authorization(header: str | None) -> str | None:
    """The access key id that signed the request (the Credential before the scope)."""
    match = _SCOPE.search(header or "")
    return match.group(1) if match else None


# What each protocol answers a request signed with expired credentials.
_EXPIRED = {
    "drs": ("ExpiredTokenException", 403),
    "ssm": ("ExpiredTokenException", 400),
    "ec2": ("RequestExpired", 400),
}


def _request_params(operation: str, body: Any, labels: dict[str, str], query: dict[str, list[str]]) -> Any:
    """Merge body, URI labels and query string into one params dict, per the model's member locations."""
    if not isinstance(body, dict):
        return None
    params = dict(body)
    shape_name = model.operation(operation).get("input", {}).get("shape")
    members = model.shapes()[shape_name]["members"] if shape_name else {}
    for name, member in members.items():
        location, wire = member.get("location"), member.get("locationName", name)
        if location == "uri" and wire in labels:
            params[name] = labels[wire]
        elif location == "querystring" and wire in query:
            is_list = model.shapes()[member["shape"]]["type"] == "list"
            params[name] = query[wire] if is_list else query[wire][0]
    return params


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as botocore's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in separate writes; don't wait for ACKs
    server: _HttpServer

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test and demo output clean

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        query = parse_qs(url.query)
        path = unquote(url.path)
        emulator = self.server.emulator
        if path.startswith("/_emulator/"):
            # What people write by hand (curl) is read as strictly as the bot's own settings.
            try:
                body = load_json(raw) if raw.strip() else {}
            except DocumentError as error:
                self._send(400, {"error": str(error)}, {})
                return
            status, payload = admin.handle(emulator, method, path[len("/_emulator/") :], body, query)
            self._send(status, payload, {})
            return
        authorization = self.headers.get("Authorization")
        region, service = region_from_authorization(authorization)
        # The signing credentials select the account: a session STS issued acts in its role's account.
        emulator, caller = emulator.world.caller(access_key_from_authorization(authorization))
        if region is not None and service == "sts":
            form = parse_qs(raw.decode(), keep_blank_values=True)  # `Tags=` is an empty list
            status, data = emulator.world.serve_sts(caller, form, region)
            self._send_raw(status, data, "text/xml")
            return
        if region is not None and service in _EXPIRED and emulator.world.expired(caller):
            self._expired(service)
            return
        target = (self.headers.get("X-Amz-Target") or "").removeprefix(ssm_automation.TARGET_PREFIX)
        if region is not None and service == "ssm" and target in SSM_OPERATIONS:
            # The hooks' automations (ssm_automation.py); the health checks' SSM calls go below.
            serve = SSM_OPERATIONS[target]
            status, payload = serve(
                emulator, region=region, params=body if isinstance(body, dict) else None, caller=caller
            )
            self._send(status, payload, {})
            return
        if region is not None and service in ("ec2", "ssm"):
            self._other_service(emulator, caller, service, region, raw)
            return
        if region is None or service != "drs":
            code = "MissingAuthenticationTokenException" if region is None else "InvalidSignatureException"
            message = (
                "Missing Authentication Token"
                if region is None
                else ("Credential should be scoped to correct service: 'drs'.")
            )
            self._send(403, {"message": message}, {"x-amzn-ErrorType": code})
            return
        found = model.route(method, path)
        if found is None:
            # Not a route of the model: this name is never an operation, so the answer is unknownOperation.
            response = emulator.handle(
                f"{method} {path}", region, body if isinstance(body, dict) else None, caller=caller
            )
        else:
            operation, labels = found
            params = _request_params(operation, body, labels, query)
            response = emulator.handle(operation, region, params, caller=caller)
        self._send(response.status, response.body, response.headers)

    def _expired(self, service: str) -> None:
        code, status = _EXPIRED[service]
        if service == "ec2":
            error = ec2.error_xml(ApiError(code, "Request has expired."))
            self._send_raw(status, error, "text/xml;charset=UTF-8")
        elif service == "ssm":
            payload = {"__type": code, "message": sts.EXPIRED_MESSAGE}
            self._send_raw(status, json.dumps(payload).encode(), "application/x-amz-json-1.1")
        else:
            self._send(status, {"message": sts.EXPIRED_MESSAGE}, {"x-amzn-ErrorType": code})

    def _other_service(
        self, emulator: DrsEmulator, caller: sts.Identity, service: str, region: str, raw: bytes
    ) -> None:
        """EC2 (query protocol, XML) and SSM (JSON 1.1) about the recovery instances."""
        if service == "ec2":
            operation, params = ec2.parse_query(parse_qs(raw.decode()))
            status, result = emulator.handle_service(service, operation, region, params, caller=caller)
            data = ec2.error_xml(result) if isinstance(result, ApiError) else ec2.to_xml(operation, result)
            self._send_raw(status, data, "text/xml;charset=UTF-8")
            return
        target = self.headers.get("X-Amz-Target") or ""
        operation = target.removeprefix(ssm.TARGET_PREFIX)
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        status, result = emulator.handle_service(
            service, operation, region, body if isinstance(body, dict) else None, caller=caller
        )
        payload = (
            {"__type": result.code, "message": result.message}
            if isinstance(result, ApiError)
            else ssm.to_json(result)
        )
        self._send_raw(status, json.dumps(payload).encode(), "application/x-amz-json-1.1")

    def _send_raw(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, payload: dict[str, Any] | None, headers: dict[str, str]) -> None:
        data = b"" if status == 204 else json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)


class _HttpServer(LocalHTTPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: DrsEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)


class EmulatorServer:
    """Serves a DrsEmulator over HTTP on a background thread.

    tick_interval: if set, a daemon thread calls emulator.advance_all() that often (real seconds), so
    subscribers get launch events even when nobody is polling (useful with a scaled real clock).
    """

    def __init__(
        self,
        emulator: DrsEmulator,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tick_interval: float | None = None,
    ) -> None:
        self.emulator = emulator
        self.host = host
        self.port = port
        self.tick_interval = tick_interval
        self._httpd: _HttpServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the server is not started")
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        return f"http://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        self._httpd = _HttpServer((self.host, self.port), self.emulator)
        self.port = self._httpd.server_address[1]
        self._stopping.clear()
        # A short poll interval makes stop() quick: serve_forever only sees shutdown between polls.
        serve = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.01},
            name="drs-emulator-http",
            daemon=True,
        )
        serve.start()
        self._threads = [serve]
        if self.tick_interval:
            tick = threading.Thread(target=self._tick, name="drs-emulator-tick", daemon=True)
            tick.start()
            self._threads.append(tick)
        return self

    def _tick(self) -> None:
        assert self.tick_interval
        while not self._stopping.wait(self.tick_interval):
            self.emulator.advance_all()

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._httpd = None
        self._threads = []

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
