"""The Markdown briefing pack keeps people's text inside its own structure.

Presenter notes, lesson fields and case fields are written by moderators (and, redacted, by
sources); a line of them must never become a heading or a table of the pack that Geneva reads.
The presenter notes were quoted only up to their first line until the browser test of the
lessons pipeline caught it.
"""

from __future__ import annotations

import datetime as dt
import uuid

from moderation.curation.briefing import to_markdown
from moderation.curation.service import Briefing, BriefingItem

NOTES = "Five minutes.\n\n# Ask the room\n| a | table |\n---\nWho audits stockpiles?"


def _pack(presenter_notes: str) -> Briefing:
    item = BriefingItem(position=1, kind="lesson", title="Audit stockpiles", region=None,
                        fields={"summary": "Check twice.\n# Not a heading"},
                        presenter_notes=presenter_notes)
    return Briefing(id=uuid.uuid4(), title="Autumn session", held_on=dt.date(2026, 9, 15),
                    place="Geneva", status="planned", items=[item])


def test_presenter_notes_stay_quoted_line_by_line() -> None:
    text = to_markdown(_pack(NOTES), {}, lambda s: s)
    lines = text.splitlines()
    start = lines.index("> **Presenter notes:** Five minutes.")
    quoted = lines[start:start + 6]
    assert quoted == ["> **Presenter notes:** Five minutes.", ">", "> \\# Ask the room",
                      "> \\| a | table |", "> \\---", "> Who audits stockpiles?"]


def test_no_heading_or_table_comes_from_user_text() -> None:
    text = to_markdown(_pack(NOTES), {}, lambda s: s)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# Briefing pack: Autumn session", "## 1. Lesson: Audit stockpiles",
                        "### Summary"]
    assert not any(line.startswith("|") for line in text.splitlines())
