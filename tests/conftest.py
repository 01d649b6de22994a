"""Shared fixtures: real servers on loopback (Azurite, the connector and Key Vault stand-ins)
and a headless Chromium for the web page.

Each lives in its own plugin module under tests/plugins/ and is stopped by the session
that started it.
"""

pytest_plugins = [
    "tests.plugins.azurite",
    "tests.plugins.standins",
    "tests.plugins.web",
    "tests.plugins.browser",
]
