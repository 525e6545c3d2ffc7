"""Slack requests for Bolt on Lambda, parsed correctly whatever words a command contains.

Bolt's form parser treats any body containing the substring "payload" as an interactivity payload; a
slash command such as `/drs execute payload-api drill` (or a user named "payload") then parses to an
empty body and Bolt answers 404. The signature is computed over the raw body, which we keep untouched;
only the parsed view of a form body with no `payload` field is corrected.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import BoltRequest
from slack_bolt.adapter.aws_lambda.handler import SlackRequestHandler, to_aws_response
from slack_bolt.adapter.aws_lambda.lazy_listener_runner import LambdaLazyListenerRunner
from slack_bolt.context import BoltContext
from slack_bolt.request.internals import build_context


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
        body = event.get("body") or ""
        if event.get("isBase64Encoded"):
            # Slack sends UTF-8; anything else is forged and fails the signature check (401), not a 500.
            body = base64.b64decode(body).decode("utf-8", errors="replace")
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
