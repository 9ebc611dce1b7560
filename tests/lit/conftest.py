"""Collects every ``.d1`` file under ``tests/lit`` as lit-style tests: one test per RUN line,
named ``FILE::RUN:LINE`` (the format: README.md here, the runner: runner.py). A file with an
``// XFAIL: reason`` line documents a known bug: its RUN lines are strict expected failures."""

from __future__ import annotations

import pytest

from tests.lit.runner import (
    LitError,
    LitFailure,
    RunLine,
    check_file,
    execute,
    run_lines,
    xfail_reason,
)


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
        reason = xfail_reason(self.path)
        for run in runs:
            item = LitItem.from_parent(self, name=f"RUN:{run.line}", run=run)
            if reason is not None:  # a known bug: the RUN line must fail, and only by its checks
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True, raises=LitFailure))
            yield item


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
