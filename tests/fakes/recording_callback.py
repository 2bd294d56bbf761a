"""A custom callback for tests, loaded by the proxy from its import path: appends every record
it is given to a JSON-lines file (off the event loop)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any


class RecordingCallback:
    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def _append(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    async def on_success(self, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self._append, {**record, "hook": "on_success"})

    async def on_failure(self, record: dict[str, Any]) -> None:
        await asyncio.to_thread(self._append, {**record, "hook": "on_failure"})


class SuccessOnly:
    async def on_success(self, record: dict[str, Any]) -> None:
        return None


class NotAsync:
    def on_success(self, record: dict[str, Any]) -> None:
        return None


class EnvPathRecorder(RecordingCallback):
    """Writes where ``RECORDING_CALLBACK_PATH`` says, read at call time."""

    def __init__(self) -> None:
        super().__init__("")

    def _append(self, record: dict[str, Any]) -> None:
        self.path = Path(os.environ["RECORDING_CALLBACK_PATH"])
        super()._append(record)


handler_instance = EnvPathRecorder()  # LiteLLM style: the import path names an instance
