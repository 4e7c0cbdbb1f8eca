"""The error family of the configuration boundary: every problem names the setting and the fix.

A configuration is refused as a whole, with every problem listed at once, so that an installer
fixes the document in one pass instead of one error per attempt.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a configuration document.

    `path` names the setting as `devices[2].password` (list indexes count from 0; "" is the
    document itself). `line` and `column` count from 1 and are None when the document did not
    come from text (the REST API validates dicts). `message` says what is wrong and how to fix it.
    """

    path: str
    line: int | None
    column: int | None
    message: str

    def format(self, source: str | None = None) -> str:
        """`file:line:col: path: message`, leaving out what is unknown."""
        where = [p for p in (source, self.line, self.column) if p is not None]
        prefix = ":".join(str(p) for p in where)
        head = f"{prefix}: " if prefix else ""
        setting = f"{self.path}: " if self.path else ""
        return f"{head}{setting}{self.message}"


class ConfigError(Exception):
    """A configuration that is refused; `problems` lists every reason, in document order.

    `str()` gives one line per problem, `file:line:col: path: message`, the format editors and
    CI logs turn into links.
    """

    def __init__(self, problems: Iterable[Problem], source: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(
            sorted(problems, key=lambda p: (p.line or 0, p.column or 0))
        )
        self.source = source
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(p.format(self.source) for p in self.problems)
