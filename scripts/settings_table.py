"""Print the README's configuration table from ``forum.settings.FIELDS``.

    .venv/bin/python scripts/settings_table.py

Paste the output under "## Configuration" in README.md; ``tests/test_settings.py`` fails when
the table and ``FIELDS`` disagree.
"""

from __future__ import annotations

import sys

from forum.settings import FIELDS


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_table() -> str:
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for field in FIELDS:
        if field.default is None:
            default = "*(required)*"
        else:
            default = f"`{field.default}`" if field.default else "*(unset)*"
        lines.append(f"| `{field.env}` | {default} | {_cell(field.help)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_table())
