"""What is wrong with a study file, by line and field."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from rounds.errors import DomainError

MAX_PROBLEMS = 200

Path = tuple[str | int, ...]


def field_name(path: Path) -> str:
    """A field as the file spells it: ``criteria[2].scale.max`` (lists counted from 1)."""
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True)
class StudyFileProblem:
    """One thing wrong with a study file; `message` says what and how to fix it."""

    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        values = {"line": self.line, "field": self.field, "message": self.message}
        if self.line is not None and self.field:
            return _("line %(line)d, field %(field)s: %(message)s") % values
        if self.line is not None:
            return _("line %(line)d: %(message)s") % values
        if self.field:
            return _("field %(field)s: %(message)s") % values
        return self.message


class StudyFileRejected(DomainError):
    """The study file cannot be used; nothing was created."""

    def __init__(self, problems: list[StudyFileProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.line or 0, p.field))[:MAX_PROBLEMS]
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
