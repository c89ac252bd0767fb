"""Validation problems: what a feed publisher needs to fix, located by file, row and field."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    severity: Severity
    file: str
    message: str
    row: int | None = None  # 1-based data row (the header is row 0), as a spreadsheet shows it minus one
    field: str | None = None

    def to_dict(self) -> dict:
        return {"severity": self.severity, "file": self.file, "row": self.row, "field": self.field,
                "message": self.message}

    def format(self) -> str:
        where = self.file + (f" row {self.row}" if self.row is not None else "")
        where += f" [{self.field}]" if self.field else ""
        return f"{self.severity.upper():7} {where}: {self.message}"


@dataclass(slots=True)
class ValidationReport:
    feed: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, file: str, message: str, row: int | None = None, field: str | None = None) -> None:
        self.problems.append(Problem("error", file, message, row, field))

    def warning(self, file: str, message: str, row: int | None = None, field: str | None = None) -> None:
        self.problems.append(Problem("warning", file, message, row, field))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {"feed": self.feed, "ok": self.ok, "errors": len(self.errors), "warnings": len(self.warnings),
                "problems": [p.to_dict() for p in self.problems]}

    def format(self, limit: int = 50) -> str:
        head = f"{self.feed}: {'OK' if self.ok else 'REJECTED'} ({len(self.errors)} errors, {len(self.warnings)} warnings)"
        lines = [head] + ["  " + p.format() for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        return "\n".join(lines)


class FeedRejected(Exception):
    """Raised when a feed has errors; carries the full report so callers can show every problem at once."""

    def __init__(self, report: ValidationReport):
        self.report = report
        first = report.errors[0].format() if report.errors else "rejected"
        super().__init__(f"feed {report.feed} rejected with {len(report.errors)} error(s); first: {first}")
