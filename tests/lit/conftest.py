"""Collects every ``.d1`` file under ``tests/lit`` as lit-style tests: one test per RUN line,
named ``FILE::RUN:LINE`` (the format: README.md here, the runner: runner.py)."""

from __future__ import annotations

import pytest

from tests.lit.runner import LitError, LitFailure, RunLine, check_file, execute, run_lines


def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".d1":
        return LitFile.from_parent(parent, path=file_path)
    return None


class LitFile(pytest.File):
    def collect(self):
        try:
            runs = run_lines(self.path)
            check_file(self.path, runs)
        except LitError as err:
            raise self.CollectError(str(err)) from None
        for run in runs:
            yield LitItem.from_parent(self, name=f"RUN:{run.line}", run=run)


class LitItem(pytest.Item):
    def __init__(self, *, run: RunLine, **kwargs) -> None:
        super().__init__(**kwargs)
        self.run = run

    def runtest(self) -> None:
        execute(self.run)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, LitFailure | LitError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.run.line - 1, f"{self.name}: {self.run.text}"
