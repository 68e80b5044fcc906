"""Logging: text for development, JSON lines for production; every record has a request id.

Never log plaintext of encrypted fields, keys, tokens, passwords, cookies or raw client
addresses: log ids, not content (STYLE §7).
"""

from __future__ import annotations

import json
import logging
import sys

from forum.middlewares import RequestIdFilter


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log would record client addresses and exact times of every request,
    # including anonymous submissions (DESIGN §5): it stays off.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
