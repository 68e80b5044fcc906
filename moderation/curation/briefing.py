"""The briefing pack of a DIEF session as Markdown (the HTML version is a template:
``moderation/briefing.html``). Labels are in the interface language the moderator picked;
the content is what moderators wrote (lessons) or published (cases)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from forum.cases import vocabulary
from moderation.curation.service import Briefing

Translate = Callable[[str], str]

LESSON_SECTIONS = (("summary", "Summary"), ("risk", "Risk"), ("indicators", "Indicators"),
                   ("mitigation", "Mitigation"), ("challenge", "Regional challenge"))
CASE_LISTS = (("item_categories", "Items"), ("transfer_stage", "Stage of the transfer chain"),
              ("diversion_methods", "Diversion methods"), ("actor_types", "Actors"),
              ("red_flags", "Red flags"), ("response_measures", "Response measures"),
              ("detection_status", "Status"), ("detection_channel", "Detection channel"),
              ("quantity_band", "Quantity"), ("transport_mode", "Transport"))


def vocabulary_label(name: str, code: str, _: Translate) -> str:
    table = vocabulary.SINGLE.get(name) or vocabulary.MULTI.get(name) or {}
    return _(table[code]) if code in table else code


def labels(name: str, value: Any, _: Translate) -> str:
    """A vocabulary value (a code or a list of codes) as translated labels."""
    if value in (None, "", []):
        return ""
    codes = value if isinstance(value, list) else [value]
    return ", ".join(vocabulary_label(name, str(code), _) for code in codes)


def region_name(code: str | None, names: dict[str, str], _: Translate, *,
                lesson: bool) -> str:
    if code is None:
        return _("Cross-regional") if lesson else _("Undisclosed")
    return names.get(code, code)


def _escape(text: str) -> str:
    """Keep user text from turning into Markdown structure of the pack (headings, tables)."""
    return "\n".join(("\\" + line) if line.lstrip().startswith(("#", "|", "---")) else line
                     for line in text.splitlines())


def to_markdown(pack: Briefing, region_names: dict[str, str], _: Translate) -> str:
    lines = [f"# {_('Briefing pack')}: {pack.title}", "",
             f"{_('DIEF session')}, {pack.place}, {pack.held_on.isoformat()}", "",
             _("Confidential. Every item is anonymised: no source, no State that shared a "
               "case (unless it chose to be named), no sensitive detail."), ""]
    if not pack.items:
        lines.append(_("The agenda is empty."))
    for item in pack.items:
        kind = _("Lesson") if item.kind == "lesson" else _("Case")
        region = region_name(item.region, region_names, _, lesson=item.kind == "lesson")
        lines += [f"## {item.position}. {kind}: {item.title}", "",
                  f"**{_('Region')}:** {region}", ""]
        if item.kind == "lesson":
            for key, title in LESSON_SECTIONS:
                if item.fields.get(key):
                    lines += [f"### {_(title)}", "", _escape(item.fields[key]), ""]
            if item.fields.get("tags"):
                tags = ", ".join(
                    next((labels(v, tag, _) for v in ("item_categories", "diversion_methods",
                                                      "actor_types", "red_flags")
                          if tag in vocabulary.MULTI[v]), tag) for tag in item.fields["tags"])
                lines += [f"**{_('Tags')}:** {tags}", ""]
        else:
            if item.fields.get("period"):
                lines += [f"**{_('Period')}:** {item.fields['period']}", ""]
            for key, title in CASE_LISTS:
                text = labels(key, item.fields.get(key), _)
                if text:
                    lines += [f"**{_(title)}:** {text}", ""]
            if item.fields.get("attributed_state"):
                lines += [f"**{_('Shared by')}:** {item.fields['attributed_state']}", ""]
            if item.fields.get("narrative"):
                lines += [f"### {_('What happened')}", "", _escape(item.fields["narrative"]), ""]
            if item.fields.get("submitter_lessons"):
                lines += [f"### {_('Lessons drawn')}", "",
                          _escape(item.fields["submitter_lessons"]), ""]
        if item.presenter_notes:
            # Every line quoted (a blank one too), or the rest of the notes would leave the
            # quote and could turn into headings or tables of the pack.
            first, *rest = _escape(item.presenter_notes).split("\n")
            lines += [f"> **{_('Presenter notes')}:** {first}",
                      *(f"> {line}".rstrip() for line in rest), ""]
    return "\n".join(lines).rstrip() + "\n"
