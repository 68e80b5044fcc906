"""Input checks shared by the service layers."""

from __future__ import annotations

from forum.errors import ValidationError


def check_text(value: object, field: str, maximum: int, *, required: bool = True) -> str:
    """Free text from a form or JSON: CRLF normalised, trimmed, length-checked.

    Missing, empty or blank → ``<field>_missing`` (when required); not a string →
    ``<field>_invalid``; longer than ``maximum`` → ``<field>_too_long`` with ``max_length``.
    """
    if value is None or value == "":
        if required:
            raise ValidationError("This field is required", field=field,
                                  code=f"{field}_missing")
        return ""
    if not isinstance(value, str):
        raise ValidationError("This field is text", field=field, code=f"{field}_invalid")
    text = value.replace("\r\n", "\n").strip()
    if required and not text:
        raise ValidationError("This field is required", field=field, code=f"{field}_missing")
    if len(text) > maximum:
        raise ValidationError("Text too long", detail="%(field)s: at most %(maximum)s characters",
                              params={"field": field, "maximum": maximum}, field=field,
                              code=f"{field}_too_long", max_length=maximum)
    return text
