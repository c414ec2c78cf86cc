"""No traceback from any input: random YAML documents (and bytes that are no text), mutations of every
experiments/*.yaml and random `--set` strings (with text that is not UTF-8, as a command line's bytes
arrive, and integers far beyond any size) go through what `cnnlab train` does before it trains (load → sweep expansion →
pre-flight, and what --dry-run prints), and the only exception that may come out is cnnlab's user
error, the one `cnnlab` prints as a single `error:` line.

A few hundred cases run by default (derandomized: the same ones every time); HYPOTHESIS_PROFILE=thorough
draws thousands of fresh ones."""

from __future__ import annotations

import copy
import io
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from cnnlab.errors import CnnlabError
from cnnlab.run.dry_run import print_dry_run
from cnnlab.run.plan import plan
from cnnlab.run.request import TrainRequest
from cnnlab.util.yamlio import dump_yaml

EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml"))
SLOW_CASE_S = 5.0  # any single case slower than this is a finding too (a bomb that got through)

LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]\n" for p, k in zip("abcdefgh", "bcdefghi", strict=True))

# Text that once ended in a traceback, or could: PyYAML constructor errors, unsupported tags, numbers
# out of every range, non-finite floats, aliases, dates, control characters, deep nesting.
HOSTILE = [
    "2024-13-45", "2024-01-05", "!!int x", "!!float y", "!!set {a, b}", "!!binary aGVsbG8=", "!!omap [a: 1]",
    "!!python/object:os.system {}", "!!python/name:os.system", "!foo 3", "9" * 5000, "-" + "9" * 30, "1e400",
    "1.0e+400", ".nan", ".inf", "-.inf", "0x7fffffffffffffff", "0b101", "1_000", "0o17", "~", "null", "''",
    "[]", "{}", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
    "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", "*nowhere", "&a x", "[1, 2", "{a: 1", "\"\\0\"", "\"a\\x00b\"",
    "'../../etc'", "\"/\"", "-1", "0", "1", "2147483648", "18446744073709551616", "true", "yes", "1.5", "-0.0",
    "{name: sgd, lr: -1}", "{name: sgd, momentum: 1.5}", "{name: group, num_groups: 0}",
    "{name: onecycle, pct_start: 1}",
    "{name: step, step_size: 0}", "{name: batch, eps: 0}", "{name: uniform, low: 1, high: -1}", "[relu, .nan]",
    "{name: shapes, train_size: 1}", "{name: imagefolder, path: \"\\0\"}", "{name: imagefolder, path: /nonexistent}",
    "{name: csv, train: \"\\0\"}", "{name: csv, train: /nonexistent, label: 9999}", "{name: csv, train: /dev/null}",
    "{name: csv, image_shape: [1, 0, 2]}", "{name: npz, path: /dev/null}", "{name: npz, keys: {x_train: 3}}",
]

# Text that is not UTF-8, as Python hands a command line's bytes on (lone surrogates), and integers far
# beyond any size a machine holds (a conv of 2**63 - 1 channels once made a run directory and failed in it).
NOT_UTF8 = st.binary(max_size=12).map(lambda tail: (b"\xff" + tail).decode("utf-8", "surrogateescape"))
HUGE = st.integers(min_value=2**31, max_value=2**63 - 1) | st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**40])

scalar = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.sampled_from(HOSTILE)
          | HUGE | NOT_UTF8)
value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=12) | st.sampled_from(["name", "lr", "conv", "fc", "epochs", "seed", "kernel_size", "pool"]),
    inner, max_size=4), max_leaves=16)


def check(spec_file: Path, text: str | bytes, overrides: list[str] = ()) -> None:
    """The pre-training path of `cnnlab train`: only CnnlabError may escape; no case may hang. A text
    with NOT_UTF8's surrogates is written as the bytes they stand for."""
    spec_file.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))
    start = time.perf_counter()
    try:
        planned = plan(TrainRequest(spec_file, tuple(overrides), dry_run=True))  # validation and pre-flight
        print_dry_run(Console(file=io.StringIO(), width=120), planned)  # what --dry-run shows of it
    except CnnlabError as err:
        assert "\n" not in str(err), f"a multi-line error: {err}"
        assert len(str(err)) < 2000, "an error message that prints a whole document"
    assert time.perf_counter() - start < SLOW_CASE_S, f"a slow case: {text[:200]!r} {overrides}"


def render(data: Any) -> str:
    """Data as YAML, with the hostile snippets written as themselves (not quoted)."""
    marks = {}

    def swap(node: Any) -> Any:
        if isinstance(node, dict):
            return {swap(k) if isinstance(k, str) else k: swap(v) for k, v in node.items()}
        if isinstance(node, list):
            return [swap(v) for v in node]
        if isinstance(node, str) and node in HOSTILE:
            marks[f"HOSTILE{len(marks)}X"] = node
            return f"HOSTILE{len(marks) - 1}X"
        return node

    text = yaml.safe_dump(swap(data), sort_keys=False, allow_unicode=True, width=10_000)
    for mark, snippet in marks.items():
        text = text.replace(mark, snippet if "\n" not in snippet else yaml.safe_dump(snippet).strip())
    return text


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "exp.yaml"


@settings(suppress_health_check=[HealthCheck.too_slow])  # the profile says how many (conftest.py)
@given(doc=st.dictionaries(st.sampled_from(["name", "seed", "data", "model", "train", "sweep", "seeds", "extra"]),
                           value, max_size=7) | value | st.text(max_size=200) | st.binary(max_size=200)
       | st.sampled_from([LAUGHS]))
def test_random_yaml_documents(spec_file, doc) -> None:
    check(spec_file, doc if isinstance(doc, str | bytes) else render(doc))


def mutate(data: Any, draw) -> Any:
    """`data` with one node replaced, removed or given a new sibling, chosen by `draw`."""
    paths = []

    def walk(node: Any, path: tuple) -> None:
        paths.append(path)
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            walk(child, (*path, key))

    walk(data, ())
    path = draw(st.sampled_from(paths))
    data = copy.deepcopy(data)
    if not path:
        return draw(value)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "remove":
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[draw(st.text(max_size=10) | st.sampled_from(["pool", "sweep", "seeds", "name"]))] = draw(value)
    else:
        parent[path[-1]] = draw(value)
    return data


@settings(suppress_health_check=[HealthCheck.too_slow])  # the profile says how many (conftest.py)
@given(experiment=st.sampled_from(EXPERIMENTS), data=st.data())
def test_mutated_experiments(spec_file, experiment: Path, data) -> None:
    spec = yaml.safe_load(experiment.read_text())
    spec["data"] = {**spec.get("data", {}), "dataset": "shapes"}  # every mutation on data cnnlab has offline
    for _ in range(data.draw(st.integers(1, 3))):
        spec = mutate(spec, data.draw)
    check(spec_file, render(spec))


KEYS = ["seed", "name", "seeds", "sweep", "data.dataset", "data.dataset.train_size", "data.val_fraction",
        "data.subset", "data.normalize", "data.augment", "data.augment[0]", "model.conv", "model.conv[0]",
        "model.conv[0].stride", "model.conv[9].padding", "model.conv[0].pool.kernel_size", "model.norm",
        "model.norm.num_groups", "model.norm.eps", "model.activation.negative_slope", "model.fc", "model.fc[0]",
        "train.batch_size", "train.threads", "train.epochs", "train.optimizer", "train.optimizer.lr",
        "train.optimizer.momentum", "train.optimizer.beta1", "train.scheduler", "train.scheduler.pct_start",
        "train.scheduler.step_size", "train.scheduler.max_lr", "train.patience", "train.device", "sweep.seed",
        "model.init.low", "model", "train", "x.y", "a[0]", "[0]", "", "seed.x", "model..fc", "model.fc[-1]",
        "model.conv[0].out_channels", "model.conv[1].kernel_size", "model.conv[0].dilation", "data.pad", "data.resize",
        "data.dataset.image_size", "data.dataset.test_size"]


@settings(suppress_health_check=[HealthCheck.too_slow])  # the profile says how many (conftest.py)
@given(sets=st.lists(st.tuples(st.sampled_from(KEYS) | st.text(max_size=15) | NOT_UTF8,
                               st.sampled_from(HOSTILE) | st.text(max_size=30) | scalar.map(dump_yaml) | NOT_UTF8
                               | HUGE.map(str)),
                     min_size=1, max_size=4),
       raw=st.lists(st.text(max_size=30) | NOT_UTF8, max_size=1))
def test_random_set_strings(spec_file, sets, raw) -> None:
    quickstart = Path(__file__).parent.parent / "experiments" / "quickstart.yaml"
    overrides = [f"{key}={text.strip()}" for key, text in sets] + raw
    check(spec_file, quickstart.read_text(), overrides)
