"""Delivering status events to Slack: in order, later when Slack is down, never twice."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from pydantic import BaseModel, ConfigDict

from bot.domain import report as report_domain
from bot.domain.engine import progress_fields
from bot.domain.events import ExecutionFinished, ProgressUpdated, StatusEvent, TimelineReady
from bot.domain.execution import Execution, SlackBlock
from bot.domain.timeline import headline, timeline
from bot.errors import SlackBlocked, SlackRefused, SlackUnavailable
from bot.services.home import shown
from bot.services.ports import (
    Clock,
    ExecutionStore,
    HomeTab,
    Message,
    Notifier,
    OutboxEntry,
    Pictures,
    Renderer,
    ReportNote,
)
from bot.services.report import LINK_SECONDS, Linked, Reports, ReportUnavailable

logger = logging.getLogger(__name__)

# A claim must outlive the longest Slack call made under it (the notifier bounds its in-place retries:
# bot.adapters.slack_notifier.LONGEST_CALL_SECONDS), and it is renewed before every post.
CLAIM_SECONDS = 120.0
# A channel Slack refuses for good is tried again this often while its execution runs, so that
# inviting the bot (or unarchiving the channel) brings the waiting messages.
RECHECK_SECONDS = 300.0
# The anchor is posted after the execution was created; Slack's clock may run a little behind ours.
CLOCK_SKEW = timedelta(minutes=5)
ADVICE = {
    "not_in_channel": "invite the bot to the channel (/invite @DRS ChatOps)",
    "channel_not_found": "the channel is gone, or private without the bot: invite the bot",
    "is_archived": "the channel is archived: unarchive it while the execution runs",
    "account_inactive": "the bot's Slack app was removed or disabled: reinstall it",
    "invalid_auth": "the bot token was refused: put the right one in the Slack secret",
    "token_revoked": "the bot token was revoked: reinstall the app and update the Slack secret",
}


class DeliveryReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    delivered: int = 0
    anchor_ts: str | None = None
    error: str | None = None  # Slack's error code when something is left for later
    all_delivered: bool = False  # no event of the execution is left to deliver
    blocked: bool = False  # Slack refuses the channel for good: the rest waits, not retried every tick


class _LostClaim(Exception):
    """Another deliverer took the event over: it posts it, in order; this one stops."""


class Outbox:
    def __init__(
        self,
        store: ExecutionStore,
        notifier: Notifier,
        renderer: Renderer,
        clock: Clock,
        *,
        claim_seconds: float = CLAIM_SECONDS,
        recheck_seconds: float = RECHECK_SECONDS,
        pictures: Pictures | None = None,
        reports: Reports | None = None,
        home: HomeTab | None = None,
    ) -> None:
        self._store = store
        self._home = home  # None: no Home tab kept current (tests, benchmarks of the thread alone)
        self._notifier = notifier
        self._renderer = renderer
        self._clock = clock
        self._claim_seconds = claim_seconds
        self._recheck_seconds = recheck_seconds
        self._pictures = pictures  # None: the timeline's verdict line is posted without its picture
        self._reports = reports  # None: this deployment keeps no reports, the verdict goes without a link

    def deliver(self, execution_id: str, known: Execution | None = None) -> DeliveryReport:
        """Post the pending events of an execution in order; say how far it got.

        `known`: the execution as its caller just saved it, which spares reading it again."""
        told: list[StatusEvent] = []
        try:
            return self._deliver_pending(execution_id, known, told)
        finally:
            if self._home is not None and shown(told):
                # Once per delivery that told a thread of what the Home tab shows (home.SHOWN), even if
                # a later message of it failed. refresh() never raises.
                self._home.refresh()

    def _deliver_pending(
        self, execution_id: str, known: Execution | None, told: list[StatusEvent]
    ) -> DeliveryReport:
        execution = known or self._store.get(execution_id)
        if execution is None:
            return DeliveryReport()
        channel = execution.channel_id
        if channel is None:
            if not execution.needs_ticks():
                self._store.retire(execution_id)
            return DeliveryReport(all_delivered=not self._store.pending_events(execution_id))
        block = execution.slack_blocked
        if block is not None and not self._recheck_due(block):
            return self._blocked(execution, block.error)
        try:
            delivered, anchor_ts = self._deliver(execution, channel, uuid.uuid4().hex, told)
        except SlackBlocked as error:
            self._store.block_slack(execution_id, error.error, self._clock())
            if block is None:
                logger.error(
                    "Slack refuses every message of execution %s to channel %s (%s): its messages are kept "
                    "and tried again every %d s while it runs, no longer every tick. To fix: %s.",
                    execution_id,
                    channel,
                    error.error,
                    self._recheck_seconds,
                    ADVICE.get(error.error, "see Slack's error code"),
                    extra={"execution_id": execution_id, "slack_blocked": error.error},
                )
            return self._blocked(execution, error.error)
        except SlackUnavailable as error:
            logger.warning("Slack unavailable; %s will be delivered later: %s", execution_id, error)
            return DeliveryReport(anchor_ts=execution.anchor_ts, error=error.error)
        except SlackRefused as error:
            logger.error("Slack refused a message of %s (kept for a retry): %s", execution_id, error)
            return DeliveryReport(anchor_ts=execution.anchor_ts, error=error.error)
        if block is not None:
            self._store.unblock_slack(execution_id)
            logger.warning(
                "Slack accepts the messages of %s in %s again (refused since %s: %s)",
                execution_id,
                channel,
                block.since.isoformat(),
                block.error,
            )
        all_delivered = not self._store.pending_events(execution_id)
        if all_delivered and not execution.needs_ticks():
            self._store.retire(execution_id)
        return DeliveryReport(delivered=delivered, anchor_ts=anchor_ts, all_delivered=all_delivered)

    def _recheck_due(self, block: SlackBlock) -> bool:
        return self._clock() - block.checked_at >= timedelta(seconds=self._recheck_seconds)

    def _blocked(self, execution: Execution, error: str) -> DeliveryReport:
        """An ended execution is not ticked for a channel that refuses it: its history is complete, and
        `/drs status` shows it."""
        if not execution.needs_ticks():
            self._store.retire(execution.execution_id)
        return DeliveryReport(anchor_ts=execution.anchor_ts, error=error, blocked=True)

    def _deliver(
        self, execution: Execution, channel: str, owner: str, told: list[StatusEvent]
    ) -> tuple[int, str | None]:
        execution_id = execution.execution_id
        thread = execution.anchor_ts
        pending = self._store.pending_events(execution_id)
        last_progress = max((e.event.seq for e in pending if isinstance(e.event, ProgressUpdated)), default=0)
        delivered = 0
        for entry in pending:
            event, seq = entry.event, entry.event.seq
            if not self._store.claim_event(execution_id, seq, self._clock(), self._claim_seconds, owner):
                break  # another deliverer has it; it keeps the order
            try:
                if thread is None:
                    # Under the first event's claim: two deliverers never both post an anchor.
                    thread = self._post_anchor(execution, channel, seq, owner)
                if isinstance(event, ProgressUpdated):
                    # Edits are idempotent, and only the newest pending one matters.
                    if seq == last_progress:
                        self._fence(execution_id, seq, owner)  # or an older state could overwrite a newer
                        self._notifier.update(channel, thread, self._renderer.anchor(event, self._clock()))
                    ts: str | None = thread
                elif isinstance(event, TimelineReady):
                    ts = self._picture_once(channel, thread, execution, entry, owner)
                else:
                    ts = self._post_once(channel, thread, execution_id, entry, owner)
            except _LostClaim:
                logger.info("event %s of %s was taken over by another deliverer", seq, execution_id)
                break
            except (SlackUnavailable, SlackRefused):
                self._store.release_event(execution_id, seq, owner)
                raise
            self._store.mark_delivered(execution_id, seq, ts)
            delivered += 1
            told.append(event)
        return delivered, thread

    def _fence(self, execution_id: str, seq: int, owner: str) -> None:
        """Right before a post or an edit: the claim is still ours, and now outlives the call."""
        if not self._store.renew_claim(execution_id, seq, self._clock(), self._claim_seconds, owner):
            raise _LostClaim

    def _post_anchor(self, execution: Execution, channel: str, seq: int, owner: str) -> str:
        execution_id = execution.execution_id
        key = f"{execution_id}:anchor"
        now = self._clock()
        # An earlier attempt may have posted it before its answer was lost: it is among the channel's
        # messages since the execution was created, however busy the channel.
        ts = self._notifier.find(channel, key, since=execution.created_at - CLOCK_SKEW)
        if ts is None:
            self._fence(execution_id, seq, owner)
            view = ProgressUpdated(seq=0, **progress_fields(execution, now))
            ts = self._notifier.post(channel, self._renderer.anchor(view, now), key=key)
        self._store.set_anchor(execution_id, ts)
        return ts

    def _post_once(self, channel: str, thread: str, execution_id: str, entry: OutboxEntry, owner: str) -> str:
        key = f"{execution_id}:{entry.event.seq}"
        # An earlier attempt may have posted before failing: look for it before posting again.
        if entry.attempts:
            found = self._notifier.find(channel, key, thread_ts=thread)
            if found:
                return found
        self._fence(execution_id, entry.event.seq, owner)
        final = isinstance(entry.event, ExecutionFinished)
        message = self._renderer.event(entry.event)
        return self._notifier.post(channel, message, key=key, thread_ts=thread, broadcast=final)

    def _picture_once(
        self, channel: str, thread: str, execution: Execution, entry: OutboxEntry, owner: str
    ) -> str:
        """The timeline picture with its verdict line, shared once: a retry first looks for the file."""
        execution_id, seq = execution.execution_id, entry.event.seq
        key = f"{execution_id}:{seq}"
        if self._pictures is None:
            found = self._notifier.find(channel, key, thread_ts=thread) if entry.attempts else None
            if found:
                return found
            comment = self._caption(execution, self._renderer.event(entry.event))
            self._fence(execution_id, seq, owner)
            return self._notifier.post(channel, comment, key=key, thread_ts=thread)
        filename = f"timeline-{execution_id}-{seq}.png"
        if entry.attempts:
            found = self._notifier.find_file(channel, thread, filename)
            if found:
                return found
        comment = self._caption(execution, self._renderer.event(entry.event))
        # Drawn from the execution as just saved or read: the picture is a projection, not a record.
        picture = timeline(execution, self._clock())
        title = headline(picture)
        data = self._pictures.png(picture, title)
        self._fence(execution_id, seq, owner)
        try:
            return self._notifier.upload(
                channel, thread, filename=filename, data=data, title=title, comment=comment
            )
        except SlackRefused as error:
            # Refused for good (no files:write scope, a file Slack will not take): the verdict line
            # still goes out, saying why the picture does not, rather than holding the thread back.
            logger.error("Slack refused the timeline picture of %s: %s", execution_id, error)
            found = self._notifier.find(channel, key, thread_ts=thread) if entry.attempts else None
            if found:
                return found
            self._fence(execution_id, seq, owner)
            told = self._renderer.picture_refused(comment, error.error)
            return self._notifier.post(channel, told, key=key, thread_ts=thread)

    def _caption(self, execution: Execution, head: Message) -> Message:
        """The report's verdict of the execution as stored, with a fresh link to its HTML page.

        A report the store refuses does not hold the thread back: the verdict goes out without the
        link, saying so (the tick keeps writing the report, and `/drs report` links it then)."""
        if not execution.status.is_terminal:
            return head  # retried since it ended: the report judges it when it ends again
        if self._reports is None:
            return self._renderer.report_verdict(
                head, ReportNote(report_domain.build(execution, self._clock()))
            )
        try:
            linked = self._reports.link(execution)  # writes the report first when the stored one is older
        except ReportUnavailable as error:
            logger.warning(
                "report of %s not stored; its verdict is posted without a link: %s",
                execution.execution_id,
                error,
            )
            built = report_domain.build(execution, self._clock())
            return self._renderer.report_verdict(head, ReportNote(built, unavailable=str(error)))
        return self._renderer.report_verdict(head, _note(linked))

    def post_report(self, execution: Execution, linked: Linked) -> str | None:
        """Share the timeline picture again in the execution's thread, with the verdict and a fresh link
        (`/drs report`): evidence the channel sees. Return the file's (or the message's) id; None when
        the execution has no thread. Slack's errors (bot.errors.SlackError) are the caller's to tell."""
        channel, thread = execution.channel_id, execution.anchor_ts
        if channel is None or thread is None:
            return None
        comment = self._renderer.report_verdict(self._renderer.report_head(linked.report), _note(linked))
        # A new name each time: a retry of the end post looks for its own file name and key, never these.
        stamp = self._clock().strftime("%Y%m%dT%H%M%S")
        key = f"{execution.execution_id}:report:{stamp}"
        if self._pictures is None:
            return self._notifier.post(channel, comment, key=key, thread_ts=thread)
        picture = timeline(execution, self._clock())
        title = headline(picture)
        filename = f"report-{execution.execution_id}-{stamp}.png"
        try:
            return self._notifier.upload(
                channel,
                thread,
                filename=filename,
                data=self._pictures.png(picture, title),
                title=title,
                comment=comment,
            )
        except SlackRefused as error:
            logger.error("Slack refused the report picture of %s: %s", execution.execution_id, error)
            told = self._renderer.picture_refused(comment, error.error)
            return self._notifier.post(channel, told, key=key, thread_ts=thread)


def _note(linked: Linked) -> ReportNote:
    return ReportNote(linked.report, url=linked.url, link_seconds=LINK_SECONDS)
