"""The README's commands work as written, and so do those of the manual's pages a new user follows
from it (the sweep of docs/sweeps.md, then docs/eval.md, whose `eval runs/activations/relu-s1` once
found nothing after that very sweep): every `.venv/bin/cnnlab ...` line of their bash blocks, in
order, in a folder holding a copy of experiments/. The commands are run exactly as the pages give
them (in this process, as the CLI runs them); only the experiments they train are made small (one
epoch, a subset of images), so that the whole tour takes seconds a run. `<run-id>` is the id of the
run the README's first command trains."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnnlab.cli import app

ROOT = Path(__file__).parent.parent
TOUR = [("README.md", None), ("docs/sweeps.md", "## Sweeps"), ("docs/eval.md", None)]  # (page, its section)
COMMAND = re.compile(r"^\.venv/bin/(cnnlab .*?)(?:\s+#.*)?$")


def bash_commands(page: Path, section: str | None) -> list[str]:
    """The `cnnlab ...` commands of a page's bash blocks (of one section), in order; a set-up line's
    `... && .venv/bin/cnnlab ...` counts by its last part."""
    text = page.read_text(encoding="utf-8")
    if section is not None:
        text = text.split(section + "\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.splitlines():
            if (found := COMMAND.match(line.split(" && ")[-1].strip())) is not None:
                commands.append(found.group(1))
    return commands


def shrink(experiments: Path) -> None:
    """Every experiment of the copy made small: one epoch on a subset of each split, two seeds at most."""
    for path in experiments.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        spec.setdefault("train", {})["epochs"] = 1
        spec.setdefault("data", {})["subset"] = 96
        if "seeds" in spec:
            spec["seeds"] = spec["seeds"][:2]
        path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_the_tour_has_the_commands_it_should():
    commands = [c for page, section in TOUR for c in bash_commands(ROOT / page, section)]
    assert commands[0] == "cnnlab train experiments/quickstart.yaml"  # the README's set-up line
    assert "cnnlab eval runs/activations/relu-s1" in commands and len(commands) >= 10


@pytest.mark.slow
def test_every_command_of_the_readme_and_its_tour_works_as_written(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "experiments", tmp_path / "experiments", ignore=shutil.ignore_patterns("results"))
    shrink(tmp_path / "experiments")
    monkeypatch.chdir(tmp_path)
    run_id = None
    for page, section in TOUR:
        for command in bash_commands(ROOT / page, section):
            if run_id is not None:
                command = command.replace("<run-id>", run_id)
            done = CliRunner().invoke(app, shlex.split(command)[1:], env={"TTY_COMPATIBLE": "0", "COLUMNS": "120"})
            assert done.exit_code == 0, f"{page}: {command}\n{done.output}"
            if run_id is None:  # the README: the last line printed is the run directory
                run_id = Path(done.stdout.strip().splitlines()[-1]).name
