"""Who made a change: `--actor`, else the operating-system user."""

from __future__ import annotations

import getpass


def default_actor() -> str:
    """The OS user name (\"unknown\" when the system cannot tell)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
