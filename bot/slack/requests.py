"""Slack requests for Bolt on Lambda, parsed correctly whatever words a command contains.

Bolt's form parser treats any body containing the substring "payload" as an interactivity payload; a
slash command such as `/drs execute payload-api drill` (or a user named "payload") then parses to an
empty body and Bolt answers 404. The signature is computed over the raw body, which we keep untouched;
only the parsed view of a form body with no `payload` field is corrected.

Before Bolt sees a request, what Slack never sends is refused with a 4xx instead of failing inside Bolt
with a 500: a body too large (413), not base64 though flagged so, not UTF-8, or not a form (400), and a
timestamp header that is not a Unix time (401; slack_sdk's check calls int() on it). Events (the Home
tab's app_home_opened, Slack's url_verification challenge) come as JSON: a JSON body must be one object,
an event envelope.
Bolt then checks the timestamp's age and the signature (401).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import BoltRequest
from slack_bolt.adapter.aws_lambda.handler import SlackRequestHandler, to_aws_response
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context

from bot.domain.strict_json import DocumentError, load_json

# Slack's largest request to this app is a click carrying the bot's own message (at most 50 blocks of
# 3,000 characters): well under this, and Lambda takes up to 6 MB.
MAX_BODY_BYTES = 1024 * 1024
# Commands and clicks come as forms; events (app_home_opened) as JSON.
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
EVENT_TYPES = ("event_callback", "url_verification")  # the Events API's envelopes this app receives
UNIX_TIME = re.compile(r"[0-9]{1,12}")  # ASCII digits: int() also reads "1_000", " 1" and other scripts'

log = logging.getLogger(__name__)


class Refused(Exception):
    """A request Slack would not send, answered `status` without reaching Bolt."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason

    def response(self) -> dict[str, Any]:
        # A forged request learns no more than Bolt's own 401 tells it.
        error = "invalid request" if self.status == 401 else self.reason
        return {
            "statusCode": self.status,
            "body": json.dumps({"error": error}),
            "headers": {"content-type": "application/json"},
        }


def slack_body(event: dict[str, Any]) -> str:
    """The body of an HTTP API event as Bolt reads it, or Refused."""
    body = event.get("body") or ""
    encoded = event.get("isBase64Encoded", False)
    if not isinstance(encoded, bool) or not isinstance(body, str):
        raise Refused(400, "the event's isBase64Encoded must be true or false and its body a string")
    if len(body) > 2 * MAX_BODY_BYTES:  # refused before decoding even base64's 4/3
        raise Refused(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    if encoded:
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise Refused(400, "the body is not base64, though isBase64Encoded says it is") from None
    else:
        raw = body.encode("utf-8", "surrogatepass")  # a lone surrogate: not UTF-8, refused below
    if len(raw) > MAX_BODY_BYTES:
        raise Refused(413, f"the body is larger than {MAX_BODY_BYTES} bytes")
    headers = {str(name).lower(): value for name, value in (event.get("headers") or {}).items()}
    timestamp = headers.get("x-slack-request-timestamp")
    if not isinstance(timestamp, str) or not UNIX_TIME.fullmatch(timestamp):
        raise Refused(401, "X-Slack-Request-Timestamp is missing or not a Unix time")
    content_type = str(headers.get("content-type") or "").partition(";")[0].strip().lower()
    if content_type not in (FORM, JSON):
        shown = repr(content_type[:60]) if content_type else "missing"  # the sender's text, into a log line
        raise Refused(400, f"the Content-Type is {shown}, not {FORM} or {JSON}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "the body is not UTF-8 text") from None
    if content_type == JSON:
        # Bolt would answer a 500 for what json.loads refuses, and silently keep the last of a repeated key.
        try:
            parsed = load_json(text)
        except DocumentError as error:
            raise Refused(400, f"the {JSON} body is refused: {error}") from None
        if not isinstance(parsed, dict) or parsed.get("type") not in EVENT_TYPES:
            raise Refused(
                400,
                f"the Content-Type is {JSON}, which Slack sends only for events (type event_callback or "
                "url_verification)",
            )
    return text


class FormSafeRequest(BoltRequest):
    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except ValueError:
            # A `payload` field that is not JSON (Bolt parses it before checking the signature).
            # Keep the raw body so the signature check answers 401, as for any forged request.
            super().__init__(**{**kwargs, "body": ""})
            self.raw_body = kwargs.get("body") or ""
            return
        raw = self.raw_body
        if self.mode == "http" and not self.body and raw and not raw.lstrip().startswith("{"):
            fields = dict(parse_qsl(raw, keep_blank_values=True))
            if fields and "payload" not in fields:
                self.body = fields
                self.context = build_context(BoltContext(dict(self.context)), self.body)

    def to_copyable(self) -> BoltRequest:
        return FormSafeRequest(
            body=self.raw_body if self.mode == "http" else self.body,
            query=self.query,
            headers=self.headers,
            context=self.context.to_copyable(),
            mode=self.mode,
        )


class SlackLambdaHandler(SlackRequestHandler):
    """Bolt's Lambda handler (lazy listeners re-invoke this function asynchronously), with FormSafeRequest."""

    def use_lambda_client(self, client: Any) -> None:
        """The client lazy listeners re-invoke the function with; Bolt would otherwise build one on the
        first lazy listener, in front of that request's ack."""
        self.app.listener_runner.lazy_listener_runner = LambdaLazyListenerRunner(
            self.logger, lambda_client=client
        )

    def handle(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        request_context = event.get("requestContext") or {}
        method = (request_context.get("http") or {}).get("method") or request_context.get("httpMethod")
        if method not in ("POST", "NONE"):
            result: dict[str, Any] = super().handle(event, context)  # type: ignore[no-untyped-call]
            return result
        try:
            body = slack_body(event)
        except Refused as refused:
            log.warning("Refused a Slack request with %s: %s", refused.status, refused.reason)
            return refused.response()
        request = FormSafeRequest(
            body=body,
            query=event.get("queryStringParameters") or {},
            headers=dict(event.get("headers") or {}),
        )
        if method == "POST":
            request.context["aws_lambda_function_name"] = context.function_name
            request.context["aws_lambda_invoked_function_arn"] = context.invoked_function_arn
            request.context["lambda_request"] = event
        response: dict[str, Any] = to_aws_response(self.app.dispatch(request))
        return response
