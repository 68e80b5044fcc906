"""Words the interface translates from a variable, e.g. ``{{ _(actor.role) }}``.

Extraction only sees string literals, so every value that reaches ``_()`` through a variable is
marked here once with ``lazy_gettext`` (which marks without translating);
``scripts/i18n.py check`` then asks the catalogues for its translations. Nothing needs to import
this module. Add new families (case statuses, …) as their own tuple.
"""

from __future__ import annotations

from forum.i18n import lazy_gettext

ROLE_NAMES: tuple[str, ...] = (
    # Translators: an account role, shown alone in lists and menus, in lower case.
    lazy_gettext("admin"),
    # Translators: an account role (Secretariat staff), shown alone, in lower case.
    lazy_gettext("moderator"),
    # Translators: an account role (runs a regional workshop), shown alone, in lower case.
    lazy_gettext("facilitator"),
    # Translators: an account role (a State's official), shown alone, in lower case.
    lazy_gettext("delegate"),
    # Translators: an account role, shown alone, in lower case.
    lazy_gettext("observer"),
    # Translators: an account role (a funder who reads the aggregate indicators only), shown
    # alone, in lower case.
    lazy_gettext("donor"),
)
