"""FakeSlack: a local HTTP server that a real slack_sdk WebClient can talk to.

Routes:
  POST|GET /api/<method>          Web API (form, JSON or query parameters; Bearer token)
  POST     /_fake/respond/<id>    a response_url issued by new_response_url()
  POST     /upload/v1/<file id>   an upload URL from files.getUploadURLExternal (the file's bytes)
  GET      /_fake/messages        every recorded message, in order (?channel=C... filters)
  GET      /_fake/calls           every Web API / response_url call and its outcome
  POST     /_fake/reset           forget messages, calls, faults and response_urls
  GET|POST|DELETE /_fake/faults   list / add ({method, kind, count, ...}) / clear faults
  POST     /_fake/response_urls   {channel_id, user_id, message_ts?} -> {"response_url": ...}
  POST     /_fake/channels        {channel_id, name?, is_member?, is_private?, is_archived?}
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sandbox.local_http import LocalHTTPServer
from sandbox.slack_fake.faults import FILE_UPLOAD, RESPONSE_URL, Fault, FaultPlan
from sandbox.slack_fake.webapi import METHODS, Params, receive_upload, respond
from sandbox.slack_fake.workspace import (
    RESPONSE_URL_TTL_SECONDS,
    ApiError,
    Channel,
    Content,
    Message,
    User,
    Workspace,
)

log = logging.getLogger(__name__)


class FakeSlack:
    """A fake Slack workspace with one bot. Use as a context manager or start()/stop()."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_token: str = "xoxb-sandbox",
        bot_user_id: str = "U0BOT",
        team_id: str = "T0SANDBOX",
        usergroups: dict[str, list[str]] | None = None,
        chat_write_public: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`clock`: the workspace's time in epoch seconds, for message ts (default: real time)."""
        self._address = (host, port)
        self.bot_token = bot_token
        self.bot_user_id = bot_user_id
        self.team_id = team_id
        self.workspace = Workspace(
            team_id=team_id,
            bot_user_id=bot_user_id,
            usergroups=usergroups,
            chat_write_public=chat_write_public,
            clock=clock,
        )
        self.faults = FaultPlan()
        self._calls: list[dict[str, Any]] = []
        self._calls_lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeSlack:
        if self._server is None:
            self.stopping.clear()
            self._server = _Server(self._address, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.01},  # stop() waits one poll
                name="fake-slack",
                daemon=True,
            )
            self._thread.start()
            self.workspace.files_url = self.url + "upload/v1/"
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self.stopping.set()  # wakes requests held by a "timeout" fault
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL, e.g. "http://127.0.0.1:PORT/"."""
        if self._server is None:
            raise RuntimeError("FakeSlack is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def api_url(self) -> str:
        """What to pass as WebClient(base_url=...); the trailing slash matters to slack_sdk."""
        return self.url + "api/"

    # -- directory set-up ------------------------------------------------------------------
    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_member: bool = True,
        is_private: bool = False,
        is_archived: bool = False,
    ) -> None:
        """Declare a channel. Unknown well-formed ids (C…, G…) already work, as member channels;
        declare one with is_member=False to get `not_in_channel`."""
        self.workspace.add_channel(
            Channel(
                id=channel_id,
                name=name or channel_id.lower(),
                is_member=is_member,
                is_private=is_private,
                is_archived=is_archived,
            )
        )

    def add_user(
        self,
        user_id: str,
        name: str | None = None,
        *,
        real_name: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
    ) -> None:
        self.workspace.add_user(
            User(
                id=user_id,
                name=name or user_id.lower(),
                real_name=real_name or name or user_id,
                is_bot=is_bot,
                deleted=deleted,
            )
        )

    def set_usergroup(self, usergroup_id: str, user_ids: list[str]) -> None:
        with self.workspace.lock:
            self.workspace.usergroups[usergroup_id] = list(user_ids)

    def post_user_message(self, channel: str, user: str, text: str, *, thread_ts: str | None = None) -> str:
        """A message typed by a person (the bot may not edit it); returns its ts."""
        ws = self.workspace
        with ws.lock:
            channel_id = ws.channel(channel).id
            if thread_ts is not None:
                ws.thread_parent(channel_id, thread_ts)
            message = ws.post(
                Message(
                    channel=channel_id,
                    ts=ws.next_ts(),
                    content=Content(text=text),
                    author=user,
                    via="user",
                    thread_ts=thread_ts,
                )
            )
            return message.ts

    # -- response_url ------------------------------------------------------------------------
    def new_response_url(
        self,
        channel_id: str = "C0SANDBOX",
        user_id: str = "U0SANDBOX",
        *,
        message_ts: str | None = None,
        ttl_seconds: float = RESPONSE_URL_TTL_SECONDS,
    ) -> str:
        """A fresh response_url for a command (or, with message_ts, a button click on that
        message) by user_id in channel_id. Good for 5 uses within ttl_seconds."""
        entry = self.workspace.issue_response_url(channel_id, user_id, message_ts, ttl_seconds)
        return f"{self.url}_fake/respond/{entry.id}"

    # -- faults --------------------------------------------------------------------------------
    def inject_fault(
        self,
        method: str,
        kind: str = "ratelimited",
        *,
        count: int = 1,
        retry_after: int = 1,
        status: int | None = None,
        drop: bool = False,
        delay: float = 2.0,
        error: str = "not_in_channel",
    ) -> None:
        """Make the next `count` calls of `method` ("chat.postMessage", "response_url", "*") fail.
        See sandbox.slack_fake.faults.Fault for what each kind does."""
        self.faults.add(
            Fault(
                method=method,
                kind=kind,
                remaining=count,
                retry_after=retry_after,
                status=status,
                drop=drop,
                delay=delay,
                error=error,
            )
        )

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- inspection ------------------------------------------------------------------------------
    def views(self) -> list[dict[str, Any]]:
        """Modals opened with views.open, in order."""
        with self.workspace.lock:
            return [dict(view) for view in self.workspace.views]

    def home_view(self, user: str) -> dict[str, Any] | None:
        """The Home tab views.publish last left for `user`."""
        with self.workspace.lock:
            view = self.workspace.home_views.get(user)
            return dict(view) if view else None

    def messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Every recorded message in posting order (deleted ones too, flagged `deleted`)."""
        with self.workspace.lock:
            return [m.record() for m in self.workspace.messages if channel in (None, m.channel)]

    def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The parent message then every reply in its thread, ephemeral replies included."""
        return [
            m
            for m in self.messages(channel)
            if (m["ts"] == ts and m["thread_ts"] is None) or m["thread_ts"] == ts
        ]

    def files(self) -> list[dict[str, Any]]:
        """Every file uploaded (to its upload URL), with its bytes: {id, name, data, completed}."""
        with self.workspace.lock:
            return [
                {"id": u.id, "name": u.filename, "data": u.data, "completed": u.completed}
                for u in self.workspace.uploads.values()
                if u.data is not None
            ]

    @property
    def calls(self) -> list[dict[str, Any]]:
        """[{method, params, time, outcome, status}]; outcome is "ok", an error code or
        "fault:<kind>"."""
        with self._calls_lock:
            return [dict(c) for c in self._calls]

    def record_call(self, method: str, params: Params, outcome: str, status: int) -> None:
        with self._calls_lock:
            self._calls.append(
                {
                    "method": method,
                    "params": params,
                    "time": time.time(),
                    "outcome": outcome,
                    "status": status,
                }
            )

    def reset(self) -> None:
        """Forget messages, calls, faults and response_urls; keep channels, users, groups."""
        self.workspace.reset()
        self.faults.clear()
        with self._calls_lock:
            self._calls.clear()

    def check_token(self, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if token != self.bot_token:
            raise ApiError("invalid_auth")


class _Server(LocalHTTPServer):
    def __init__(self, address: tuple[str, int], fake: FakeSlack) -> None:
        super().__init__(address, _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake slack: " + format, *args)

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    # -- routing -------------------------------------------------------------------------------
    def _route(self) -> None:
        path = urlsplit(self.path).path
        raw = self._read_body()
        fake = self.server.fake
        if path.startswith("/api/"):
            self._web_api(path.removeprefix("/api/"), raw)
        elif path.startswith("/upload/v1/") and self.command == "POST":
            self._upload(path.removeprefix("/upload/v1/"), raw)
        elif path.startswith("/_fake/respond/"):
            self._response_url(path.removeprefix("/_fake/respond/"), raw)
        elif path == "/_fake/messages":
            channel = dict(parse_qsl(urlsplit(self.path).query)).get("channel")
            self._send_json(200, fake.messages(channel))
        elif path == "/_fake/calls":
            self._send_json(200, fake.calls)
        elif path == "/_fake/reset" and self.command == "POST":
            fake.reset()
            self._send_json(200, {"ok": True})
        elif path == "/_fake/faults":
            self._admin_faults(raw)
        elif path == "/_fake/response_urls" and self.command == "POST":
            self._admin_response_url(raw)
        elif path == "/_fake/channels" and self.command == "POST":
            self._admin_channel(raw)
        else:
            self._send_json(404, {"ok": False, "error": "not_found"})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _params(self, raw: bytes) -> Params:
        """Query string, then form or JSON body, merged as Slack does."""
        params: Params = dict(parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
        if not raw:
            return params
        if self.headers.get_content_type() == "application/json":
            try:
                body = json.loads(raw)
            except ValueError as exc:
                raise ApiError("invalid_json") from exc
            if not isinstance(body, dict):
                raise ApiError("invalid_json")
            params.update(body)
        else:
            params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
        return params

    def _token(self, params: Params) -> str | None:
        header = self.headers.get("Authorization", "")
        token = params.pop("token", None)  # Slack also accepts a token parameter
        if header.startswith("Bearer "):
            return header.removeprefix("Bearer ").strip()
        return str(token) if token else None

    # -- Web API ---------------------------------------------------------------------------------
    def _web_api(self, method: str, raw: bytes) -> None:
        fake = self.server.fake
        params: Params = {}
        try:
            params = self._params(raw)
            token = self._token(params)
        except ApiError as exc:
            self._answer(method, params, exc.status, exc.body())
            return
        if method not in METHODS:
            self._answer(method, params, 200, ApiError("unknown_method").body())
            return
        fault = fake.faults.take(method)
        if fault is not None and fault.kind not in ("ambiguous", "slow"):
            self._fail(method, params, fault)
            return
        status, body = self._execute(method, params, token)
        if fault is not None and fault.kind == "slow":
            self._answer(method, params, status, body, delay=fault.delay)
            return
        if fault is not None:
            # The work is done and recorded; only the answer is lost.
            fake.record_call(method, params, f"fault:ambiguous({_outcome(body)})", fault.http_status())
            self._lose_answer(fault)
            return
        self._answer(method, params, status, body)

    def _execute(self, method: str, params: Params, token: str | None) -> tuple[int, dict[str, Any]]:
        fake = self.server.fake
        try:
            fake.check_token(token)
            with fake.workspace.lock:
                return 200, {"ok": True, **METHODS[method](fake.workspace, params)}
        except ApiError as exc:
            return exc.status, exc.body()
        except Exception as exc:  # a bug in the fake must not look like a Slack answer
            log.exception("fake slack: %s crashed", method)
            return 500, {"ok": False, "error": "fake_internal_error", "detail": repr(exc)}

    def _answer(
        self, method: str, params: Params, status: int, body: dict[str, Any], *, delay: float = 0
    ) -> None:
        self.server.fake.record_call(method, params, _outcome(body), status)
        if delay:
            self.server.fake.stopping.wait(delay)  # done and recorded; the answer comes late
            try:
                self._send_json(status, body)
            except OSError:
                self.close_connection = True  # the client gave up waiting, as the bot should
            return
        self._send_json(status, body)

    def _fail(self, method: str, params: Params, fault: Fault) -> None:
        """Answer with an injected failure instead of doing the work."""
        fake = self.server.fake
        if fault.kind == "timeout":
            fake.record_call(method, params, "fault:timeout", 0)
            fake.stopping.wait(fault.delay)
            self.close_connection = True
            return
        if fault.kind == "ratelimited":
            status, headers = 429, {"Retry-After": str(fault.retry_after)}
            body = {"ok": False, "error": "ratelimited"}
        elif fault.kind == "server_error":
            status, headers = fault.http_status(), {}
            body = {"ok": False, "error": "internal_error"}
        else:  # not_in_channel, refused
            code = fault.error if fault.kind == "refused" else "not_in_channel"
            status, headers, body = 200, {}, {"ok": False, "error": code}
        fake.record_call(method, params, f"fault:{fault.kind}", status)
        self._send_json(status, body, headers)

    def _lose_answer(self, fault: Fault) -> None:
        if fault.drop:
            self.close_connection = True  # close without a status line: RemoteDisconnected
            return
        self._send_json(fault.http_status(), {"ok": False, "error": "internal_error"})

    # -- response_url ----------------------------------------------------------------------------
    def _response_url(self, url_id: str, raw: bytes) -> None:
        fake = self.server.fake
        try:
            payload = json.loads(raw or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("payload must be an object")
        except ValueError:
            self._answer(RESPONSE_URL, {}, 400, {"ok": False, "error": "invalid_payload"})
            return
        fault = fake.faults.take(RESPONSE_URL)
        if fault is not None and fault.kind == "slow":
            fake.stopping.wait(fault.delay)  # held before the work: a late response_url answer
            fault = None
        if fault is not None and fault.kind != "ambiguous":
            self._fail(RESPONSE_URL, payload, fault)
            return
        try:
            with fake.workspace.lock:
                entry = fake.workspace.response_urls.get(url_id)
                status, body = 200, {"ok": True, **respond(fake.workspace, entry, payload)}
        except ApiError as exc:
            status, body = exc.status, exc.body()
        except Exception as exc:  # a bug in the fake must not look like a Slack answer
            log.exception("fake slack: response_url crashed")
            status, body = 500, {"ok": False, "error": "fake_internal_error", "detail": repr(exc)}
        if fault is not None:
            fake.record_call(RESPONSE_URL, payload, f"fault:ambiguous({_outcome(body)})", fault.http_status())
            self._lose_answer(fault)
            return
        self._answer(RESPONSE_URL, payload, status, body)

    # -- upload URL ------------------------------------------------------------------------------
    def _upload(self, file_id: str, raw: bytes) -> None:
        """The bytes of a file, as files.uploadV2's second step sends them: a raw POST body."""
        fake = self.server.fake
        params: Params = {"file_id": file_id, "bytes": len(raw)}
        fault = fake.faults.take(FILE_UPLOAD)
        if fault is not None and fault.kind not in ("ambiguous", "slow"):
            self._fail(FILE_UPLOAD, params, fault)
            return
        try:
            with fake.workspace.lock:
                status, text = 200, receive_upload(fake.workspace, file_id, raw)
        except ApiError as exc:
            status, text = exc.status, exc.code
        fake.record_call(FILE_UPLOAD, params, "ok" if status == 200 else text, status)
        if fault is not None and fault.kind == "ambiguous":
            self._lose_answer(fault)
            return
        if fault is not None:
            fake.stopping.wait(fault.delay)
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- admin -----------------------------------------------------------------------------------
    def _admin_json(self, raw: bytes) -> dict[str, Any] | None:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            self._send_json(400, {"ok": False, "error": "invalid_json"})
            return None
        return body

    def _admin_faults(self, raw: bytes) -> None:
        fake = self.server.fake
        if self.command == "GET":
            self._send_json(200, fake.faults.pending())
            return
        if self.command == "DELETE":
            fake.clear_faults()
            self._send_json(200, {"ok": True})
            return
        body = self._admin_json(raw)
        if body is None:
            return
        try:
            fake.inject_fault(
                str(body["method"]),
                str(body.get("kind", "ratelimited")),
                count=int(body.get("count", 1)),
                retry_after=int(body.get("retry_after", 1)),
                status=body.get("status"),
                drop=bool(body.get("drop", False)),
                delay=float(body.get("delay", 2.0)),
                error=str(body.get("error", "not_in_channel")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            self._send_json(400, {"ok": False, "error": "invalid_fault", "detail": str(exc)})
            return
        self._send_json(200, {"ok": True})

    def _admin_response_url(self, raw: bytes) -> None:
        body = self._admin_json(raw)
        if body is None:
            return
        url = self.server.fake.new_response_url(
            str(body.get("channel_id", "C0SANDBOX")),
            str(body.get("user_id", "U0SANDBOX")),
            message_ts=body.get("message_ts"),
        )
        self._send_json(200, {"ok": True, "response_url": url})

    def _admin_channel(self, raw: bytes) -> None:
        body = self._admin_json(raw)
        if body is None:
            return
        if "channel_id" not in body:
            self._send_json(400, {"ok": False, "error": "channel_id is required"})
            return
        self.server.fake.add_channel(
            str(body["channel_id"]),
            body.get("name"),
            is_member=bool(body.get("is_member", True)),
            is_private=bool(body.get("is_private", False)),
            is_archived=bool(body.get("is_archived", False)),
        )
        self._send_json(200, {"ok": True})

    def _send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _outcome(body: dict[str, Any]) -> str:
    return "ok" if body.get("ok") else str(body.get("error", "error"))
