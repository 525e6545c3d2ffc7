"""manifest.yml: valid, complete for HTTP and Socket Mode, and granting every scope the code needs.

The Web API methods are read from the code (every `<client>.<method>(` call on a slack_sdk WebClient in
bot/ and handlers/), so a new call without its scope in the manifest fails here rather than in a
workspace at 3 a.m. with `missing_scope`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk import WebClient

from bot.domain.commands import KEYWORDS

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "manifest.yml"

# Each Web API method the bot may call, and the bot scopes it needs (Slack's method reference).
METHOD_SCOPES: dict[str, set[str]] = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "usergroups.users.list": {"usergroups:read"},
    # The bot looks for its own earlier messages in public and private channels it was invited to.
    "conversations.history": {"channels:history", "groups:history"},
    "conversations.replies": {"channels:history", "groups:history"},
    "views.open": set(),
    "views.publish": set(),
    "auth.test": set(),
    # slack_sdk's files_upload_v2: files.getUploadURLExternal, then files.completeUploadExternal.
    "files.upload.v2": {"files:write"},
}
# Every command of the grammar is named in the usage hint.
COMMANDS = (
    "help",
    "plans",
    "plan",
    "check",
    "execute",
    "status",
    "history",
    "cancel",
    "cleanup",
    "report",
    "pause",
    "resume",
    "retry",
    "skip",
)


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    data = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def web_api_methods_called() -> set[str]:
    """`client.chat_postMessage(...)` or `_call(self._client.chat_update, ...)` -> chat.postMessage, ...

    slack_sdk names each method after its Web API name with '.' turned into '_' (Slack's method names
    have no '_' of their own)."""
    methods = {name for name in dir(WebClient) if not name.startswith("_") and "_" in name}
    found: set[str] = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py"), *ROOT.glob("drs_cli/**/*.py")]:
        for name in re.findall(r"\.([a-z]+_[A-Za-z0-9_]+)\b", path.read_text(encoding="utf-8")):
            if name in methods:
                found.add(name.replace("_", "."))
    return found


def test_the_code_calls_only_methods_whose_scopes_are_known() -> None:
    called = web_api_methods_called()
    assert {"chat.postMessage", "chat.update", "conversations.history", "views.open"} <= called
    unknown = called - set(METHOD_SCOPES)
    assert not unknown, (
        f"add these Web API methods and their scopes to METHOD_SCOPES and manifest.yml: {unknown}"
    )


def test_every_scope_the_code_needs_is_granted(manifest: dict[str, Any]) -> None:
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {"commands"}.union(*(METHOD_SCOPES[method] for method in web_api_methods_called()))
    assert needed <= granted, f"missing bot scopes: {needed - granted}"
    assert granted <= needed, f"scopes granted that no code uses: {granted - needed}"


def test_the_slash_command_and_its_usage_hint(manifest: dict[str, Any]) -> None:
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/drs"
    assert command["url"] == "REQUEST_URL"
    hint = command["usage_hint"]
    words = set(re.findall(r"[a-z]+", hint))
    assert set(COMMANDS) <= words
    assert {"drill", "recovery"} <= words
    assert set(COMMANDS) == set(KEYWORDS)  # the hint names every command of the grammar, and only those
    assert len(hint) <= 1000


def test_interactivity_is_on_for_the_approval_buttons_and_the_reason_form(manifest: dict[str, Any]) -> None:
    interactivity = manifest["settings"]["interactivity"]
    assert interactivity["is_enabled"] is True
    assert interactivity["request_url"] == "REQUEST_URL"


def test_the_http_app_by_default_and_the_socket_mode_variant_the_readme_makes(
    manifest: dict[str, Any],
) -> None:
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert manifest["features"]["bot_user"]["display_name"]
    # The README's one-liner for a Socket Mode app: switch the flag, drop the request URLs.
    text = MANIFEST.read_text(encoding="utf-8")
    text = text.replace("socket_mode_enabled: false", "socket_mode_enabled: true")
    socket = yaml.safe_load("\n".join(line for line in text.splitlines() if "url: REQUEST_URL" not in line))
    assert socket["settings"]["socket_mode_enabled"] is True
    assert "url" not in socket["features"]["slash_commands"][0]
    assert socket["settings"]["interactivity"] == {"is_enabled": True}
    assert socket["oauth_config"] == manifest["oauth_config"]
