"""Browser tests: the real app on a real port, driven through Debian's Chromium by Playwright."""
