"""JSON Lines output of the CLI commands: one JSON object per image or video frame."""
from __future__ import annotations

import json
from typing import Any, Dict, IO, Optional


class JsonlWriter:
    """Write one compact JSON object per line; ``path`` '-' means standard output."""

    def __init__(self, path: str) -> None:
        import sys
        self._own = path != '-'
        self._file: Optional[IO[str]] = open(path, 'w') if self._own else sys.stdout
        self.count = 0

    def write(self, record: Dict[str, Any]) -> None:
        assert self._file is not None
        self._file.write(json.dumps(record, separators=(',', ':')) + '\n')
        self.count += 1

    def close(self) -> None:
        if self._file is not None and self._own:
            self._file.close()
        self._file = None

    def __enter__(self) -> 'JsonlWriter':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
