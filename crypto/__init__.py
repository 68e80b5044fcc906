"""Pure cryptography for DIEF Forum: no aiohttp, no SQL. See each module's docstring."""
