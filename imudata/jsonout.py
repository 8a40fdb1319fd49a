"""``--json`` output shared by the ``imudata`` commands: one JSON object on stdout, messages on stderr.

Every object carries ``schema`` (:data:`SCHEMA`, raised only when a documented key changes
meaning or disappears; new keys may appear) and ``command`` (the command that wrote it). The
per-command keys are documented in docs/scripting.md and returned by the functions of
:mod:`imudata.commands`, so a script gets the same object from the CLI and from Python.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

#: version of the documented JSON keys; scripts may check it
SCHEMA = 1

JSON_HELP = "Print one JSON object on stdout (keys: docs/scripting.md); messages stay on stderr."


def envelope(command: str, **fields: Any) -> dict[str, Any]:
    """The object a command returns: ``schema``, ``command``, then the command's own keys."""
    return {"schema": SCHEMA, "command": command, **fields}


def _plain(obj: Any) -> Any:
    if isinstance(obj, os.PathLike):
        return str(Path(obj))
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")


def dumps(obj: dict[str, Any]) -> str:
    """The object as indented JSON text (paths as strings, non-ASCII kept)."""
    return json.dumps(obj, indent=2, ensure_ascii=False, default=_plain)


def emit(obj: dict[str, Any]) -> None:
    """Write the object to stdout, newline-terminated, and flush (stderr carries everything else)."""
    sys.stdout.write(dumps(obj) + "\n")
    sys.stdout.flush()
