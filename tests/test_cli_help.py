"""What `--help` tells a new user (issue 18 item 14): the command list in whole phrases, one example per
command, the model given the same way everywhere (--model/-m, the positional kept), -q on train, plain --threads."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from synthsight.cli import COMMANDS, EXAMPLES, SHORT, cli


def _help(*args: str) -> str:
    done = CliRunner().invoke(cli, [*args, "--help"], terminal_width=80)
    assert done.exit_code == 0, done.output
    return done.output


def test_the_command_list_is_whole_phrases_in_80_columns():
    text = _help().split("Commands:")[1]
    for name in COMMANDS:
        assert re.search(rf"^  {re.escape(name)} +{re.escape(SHORT[name])}$", text, re.M), name
    assert "..." not in text and max(len(line) for line in text.splitlines()) <= 80


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_shows_an_example_whose_options_it_has(name):
    text = _help(name)
    assert "Example:" in text and EXAMPLES[name] in text.replace("\n    ", " "), text
    command = cli.get_command(None, name)
    known = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for option in re.findall(r"(?<!\S)(--?[a-z][\w-]*)", EXAMPLES[name]):
        assert option in known, (name, option)


@pytest.mark.parametrize("name", ["eval", "calibrate", "export", "info"])
def test_the_model_is_accepted_as_model_option_too(name, tmp_path):
    model, data = tmp_path / "m", tmp_path / "d"
    model.mkdir()
    data.mkdir()
    rest = [str(data)] if name in ("eval", "calibrate") else []
    command = cli.get_command(None, name)
    for spelling in (["--model", str(model)], ["-m", str(model)], [f"--model={model}"], [str(model)]):
        ctx = command.make_context(name, [*rest, *spelling] if spelling[0].startswith("-") else [*spelling, *rest])
        assert ctx.params["model"] == str(model), spelling
        if rest:
            assert ctx.params["data"] == str(data)
    assert "--model MODEL" in _help(name)


def test_train_takes_q_and_scan_threads_help_is_plain(tmp_path):
    ctx = cli.get_command(None, "train").make_context("train", [str(tmp_path), "--out", str(tmp_path / "o"), "-q"])
    assert ctx.params["quiet"] is True
    threads = _help("scan").split("--threads")[1].split("\n  --")[0]
    assert "affinity mask" not in threads and "plus one" not in threads and "docs/scanning.md" in threads
