"""The timeline PNG: a real PNG of the size the model asks for, drawing what the model holds."""

from __future__ import annotations

import io

from PIL import Image

from bot.adapters.timeline_png import WIDTH, height_for, render_png
from bot.domain.execution import Approval, ExecutionStatus, ExecutionType
from bot.domain.timeline import Timeline, timeline
from tests.unit.builders import at, execution
from tests.unit.test_timeline import finish, step

FAILED_RED = (204, 0, 0)
LAUNCHED_GREEN = (0, 90, 50)
APPROVAL_BLUE = (18, 100, 163)


def picture(t: Timeline) -> Image.Image:
    data = render_png(t, "PARTIAL · drill of plan-x")
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.size == (WIDTH, height_for(t))
    return image


def colours_in_chart(image: Image.Image) -> set[object]:
    """Colours inside the rows, above the axis and the legend (which shows every colour)."""
    rgb = image.convert("RGB")
    box = rgb.crop((230, 96, WIDTH, image.height - 88))
    return {colour for _, colour in box.getcolors(maxcolors=1 << 20) or []}


def test_a_picture_grows_a_row_per_wave_and_marks_a_failed_server_in_red() -> None:
    ex = step(execution(2, 3), 0)
    ex = finish(ex, 0, 540)
    bad = ex.waves[1].chunks[0].servers[0].source_server_id
    ex = finish(ex, 1, 1100, **{bad: "FAILED"})
    assert ex.status is ExecutionStatus.PARTIAL
    image = picture(timeline(ex, now=at(1200)))
    colours = colours_in_chart(image)
    assert FAILED_RED in colours and LAUNCHED_GREEN in colours
    assert image.height > picture(timeline(step(execution(2), 0), now=at(10))).height


def test_a_clean_drill_has_no_red_in_its_rows_and_a_recovery_shows_its_approval() -> None:
    ex = step(execution(2), 0)
    ex = finish(ex, 0, 540)
    clean = colours_in_chart(picture(timeline(ex, now=at(600))))
    assert FAILED_RED not in clean and LAUNCHED_GREEN in clean
    recovery = execution(1, kind=ExecutionType.RECOVERY).model_copy(
        update={"approvals": (Approval(user_id="U2", at=at(120)),)}
    )
    assert APPROVAL_BLUE in colours_in_chart(picture(timeline(recovery, now=at(300))))


def test_long_names_and_many_waves_still_render() -> None:
    ex = step(execution(*([1] * 20)), 0)
    long_name = ex.waves[0].model_copy(update={"name": "W" * 300 + " <&> é 東京"})
    ex = ex.replace_wave(long_name)
    image = picture(timeline(ex, now=at(60)))
    assert image.height == height_for(timeline(ex, now=at(60)))
