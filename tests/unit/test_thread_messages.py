"""Thread messages come from one table keyed by event type: an event without a renderer is caught here,
not by a thread that goes quiet."""

from __future__ import annotations

import typing

from bot.domain.events import Event, ProgressUpdated, WaveFinished, WaveGated, WaveScheduled
from bot.slack import thread_messages
from bot.slack.ids import CONTINUE_ACTION, RETRY_ACTION, SKIP_ACTION, STOP_ACTION
from bot.slack.layout import section
from tests.unit.test_blocks_limits import every_event

EVENT_TYPES = set(typing.get_args(typing.get_args(Event)[0]))


def test_every_event_type_has_one_home() -> None:
    assert len(EVENT_TYPES) >= 20  # the union was read (a changed Event annotation would empty it)
    # ProgressUpdated edits the anchor; every other event becomes a reply in the thread.
    assert set(thread_messages.RENDERERS) == EVENT_TYPES - {ProgressUpdated}


def test_each_event_is_rendered_by_its_own_entry() -> None:
    events = every_event()
    assert {type(event) for event in events} == EVENT_TYPES
    for event in events:
        message = thread_messages.event(event)
        if isinstance(event, ProgressUpdated):
            assert message == thread_messages.anchor(event, event.at)
        else:
            text = thread_messages.RENDERERS[type(event)](event)
            assert message.blocks[0] == section(text)
            # The only other block: a gate's buttons (its reminder's too), or a wave's control (Retry
            # failed after failures, Skip while it waits).
            controls = [e["action_id"] for b in message.blocks[1:] for e in b["elements"]]
            expected = {
                WaveGated: [CONTINUE_ACTION, SKIP_ACTION, STOP_ACTION],
                WaveScheduled: [SKIP_ACTION],
                WaveFinished: [RETRY_ACTION],
            }.get(type(event), [])
            assert controls == expected, type(event)
