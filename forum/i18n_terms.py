"""Words the interface translates from a variable, e.g. ``{{ _(actor.role) }}``.

Extraction only sees string literals, so every value that reaches ``_()`` through a variable is
marked here once with ``lazy_gettext`` (which marks without translating);
``scripts/i18n.py check`` then asks the catalogues for its translations. Nothing needs to import
this module. Add new families (room kinds, case statuses, …) as their own tuple.
"""

from __future__ import annotations

from forum.i18n import lazy_gettext

# Translators: an account role, shown alone in lists and menus (lower case, like "delegate").
ROLE_NAMES: tuple[str, ...] = (
    lazy_gettext("admin"),
    lazy_gettext("moderator"),
    lazy_gettext("facilitator"),
    lazy_gettext("delegate"),
    lazy_gettext("observer"),
)
