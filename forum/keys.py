"""Every ``web.AppKey`` and request key of the application, in one place."""

from __future__ import annotations

import asyncpg
import jinja2
from aiohttp import web

from forum.auth.passwords import PasswordService
from forum.auth.service import Actor
from forum.i18n import Catalogs
from forum.keyring import KeyRing
from forum.keystore.service import KeyStore
from forum.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
KEYRING = web.AppKey("keyring", KeyRing)
KEYSTORE = web.AppKey("keystore", KeyStore)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
CATALOGS = web.AppKey("catalogs", Catalogs)
HASHER = web.AppKey("password_service", PasswordService)
DUMMY_HASH = web.AppKey("dummy_password_hash", str)

# Per-request values (request[...]): set by middlewares, read by handlers.
ACTOR: web.RequestKey[Actor | None] = web.RequestKey("dief.actor")
CSRF_TOKEN: web.RequestKey[str] = web.RequestKey("dief.csrf_token")
LANGUAGE: web.RequestKey[str] = web.RequestKey("dief.language")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("dief.request_id")
