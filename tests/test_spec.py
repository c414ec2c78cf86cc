"""The spec: defaults, overrides, sweeps and every error a user can make (one line, the key path)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from cnnlab.spec import (
    ConvSpec,
    DataSpec,
    ModelSpec,
    PoolSpec,
    Spec,
    SpecError,
    TrainSpec,
    expand_runs,
    load_experiment,
    load_spec,
    resolve,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def error_of(raw: dict) -> str:
    with pytest.raises(SpecError) as info:
        resolve(raw)
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("section", [PoolSpec, ConvSpec, ModelSpec, DataSpec, TrainSpec, Spec])
def test_every_key_has_a_default_and_a_description(section):
    source = inspect.getsource(section).splitlines()
    for key, field in section.model_fields.items():
        if not (section is ConvSpec and key == "out_channels"):  # the one required key of a conv block
            assert not field.is_required(), f"{section.__name__}.{key} has no default"
        line = next(ln for ln in source if ln.strip().startswith(f"{key}:"))
        assert "  # " in line, f"{section.__name__}.{key} has no one-line description"


def test_exponent_numbers_are_numbers(tmp_path):
    spec = load_spec(write(tmp_path, "train: {optimizer: {name: adam, lr: 1e-3}}"))
    assert spec.train.optimizer.options["lr"] == pytest.approx(0.001)
    spec = load_spec(write(tmp_path, "{}"), ["train.optimizer.lr=3e-4", "train.epochs=2"])
    assert spec.train.optimizer.options["lr"] == pytest.approx(3e-4)
    assert spec.train.epochs == 2


def test_registry_options_are_completed_and_checked():
    spec = resolve({"model": {"activation": {"name": "leaky_relu", "negative_slope": 0.2}}})
    assert spec.model.activation.options == {"negative_slope": 0.2}
    assert spec.resolved()["model"]["activation"] == {"name": "leaky_relu", "negative_slope": 0.2}
    assert resolve({}).resolved()["model"]["init"] == {"name": "kaiming_normal", "mode": "fan_in"}


def test_preset_is_overridden_by_spec_keys():
    spec = resolve({"model": {"preset": "lenet5", "activation": "tanh"}})
    assert spec.model.activation.name == "tanh"
    assert [c.out_channels for c in spec.model.conv] == [6, 16]
    assert spec.model.fc == [120, 84]


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        (["model.activation=tanh"], lambda s: s.model.activation.name == "tanh"),
        (["model.activation=leaky_relu", "model.activation.negative_slope=0.3"],
         lambda s: s.model.activation.options["negative_slope"] == 0.3),
        (["model.conv[1].dilation=2"], lambda s: s.model.conv[1].dilation == (2, 2)),  # list from the defaults
        (["model.conv[0].kernel_size=[3, 5]"], lambda s: s.model.conv[0].kernel_size == (3, 5)),
        (["model.preset=lenet5", "model.conv[0].padding=2"],
         lambda s: s.model.conv[0].padding == (2, 2) and s.model.conv[0].out_channels == 6),
        (["model.fc=[]"], lambda s: s.model.fc == []),
        (["data.normalize=none", "train.patience=3"], lambda s: s.data.normalize == "none" and s.train.patience == 3),
    ],
)
def test_set_overrides(tmp_path, overrides, check):
    assert check(load_spec(write(tmp_path, "name: x"), overrides))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"modle": {}}, 'modle: unknown key (did you mean "model"?)'),
        ({"model": {"activaton": "relu"}}, 'model.activaton: unknown key (did you mean "activation"?)'),
        ({"model": {"activation": "rleu"}}, "model.activation: unknown activation 'rleu' (did you mean \"relu\"?)"),
        ({"model": {"init": "xavier"}}, "model.init: unknown init 'xavier'"),
        ({"model": {"norm": "btach"}}, "model.norm: unknown norm 'btach' (did you mean \"batch\"?)"),
        ({"data": {"dataset": "mnits"}}, "data.dataset: unknown dataset 'mnits'"),
        ({"model": {"conv": [{"out_channels": 3}, {"out_channels": 4, "stride": 0}]}},
         "model.conv[1].stride: must be >= 1, got 0"),
        ({"model": {"conv": [{"out_channels": 3, "padding": "same", "stride": 2}]}},
         "model.conv[0].padding: 'same' works only with stride 1"),
        ({"model": {"conv": [{"kernel_size": 3}]}}, "model.conv[0].out_channels: Field required"),
        ({"train": {"epochs": "ten"}}, "train.epochs: Input should be a valid integer"),
        ({"train": {"epochs": 2.5}}, "train.epochs: Input should be a valid integer"),
        ({"train": {"optimizer": {"name": "sgd", "lrr": 0.1}}}, "has no option 'lrr' (did you mean \"lr\"?)"),
        ({"train": {"device": "gpu"}}, "train.device: expected auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
        ({"data": {"val_fraction": 1.5}}, "data.val_fraction: Input should be less than 1"),
        ({"model": {"preset": "lenet"}}, "model.preset: unknown preset 'lenet' (did you mean \"lenet5\"?)"),
        ({"name": "../escape"}, "name: must be letters, digits"),
        ({"model": {"bias_init": "kaiming_normal"}}, "model.bias_init: 'kaiming_normal' needs a weight matrix"),
        ({"model": {"conv": [{"out_channels": 3, "pool": {"type": "avg", "dilation": 2}}]}},
         "model.conv[0].pool.dilation: avg pooling has no dilation"),
    ],
)
def test_errors_name_the_key(raw, expected):
    assert expected in error_of(raw)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty"),
        ("model: [unclosed", "not valid YAML at line 1"),
        ("!!python/object/apply:os.system ['echo hi']", "unsupported YAML tag"),
        ("- a\n- b\n", "expected a mapping of keys"),
    ],
)
def test_bad_files(tmp_path, text, expected):
    with pytest.raises(SpecError, match=expected):
        load_spec(write(tmp_path, text))


def test_missing_file(tmp_path):
    with pytest.raises(SpecError, match="no such file"):
        load_spec(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("model.activation", "expected KEY=VALUE"),
        ("model..x=1", "not a key path"),
        ("model.conv[9].stride=2", r"model.conv\[9\]: index out of range \(the list has 2 entries\)"),
        ("model.fc.width=3", "model.fc: is not a mapping"),
        ("model.activation[0]=3", "model.activation: is not a list"),
    ],
)
def test_bad_overrides(tmp_path, item, expected):
    with pytest.raises(SpecError, match=expected):
        load_spec(write(tmp_path, "name: x"), [item])


def test_sweep_expands_to_every_combination_and_seed(tmp_path):
    experiment = load_experiment(write(tmp_path, """
sweep:
  model.activation: [relu, tanh]
  model.conv[0].kernel_size: [3, 5]
seeds: [0, 1, 2]
"""))
    runs = expand_runs(experiment)
    assert len(runs) == 12
    assert {(r.spec.model.activation.name, r.spec.model.conv[0].kernel_size, r.seed) for r in runs} == {
        (a, (k, k), s) for a in ("relu", "tanh") for k in (3, 5) for s in (0, 1, 2)
    }
    assert runs[0].swept == {"model.activation": "relu", "model.conv[0].kernel_size": 3}
    assert all("sweep" not in r.resolved() and "seeds" not in r.resolved() for r in runs)


def test_sweep_over_presets_takes_each_presets_values(tmp_path):
    runs = expand_runs(load_experiment(write(tmp_path, "sweep: {model.preset: [lenet5, mlp]}")))
    assert [r.spec.model.kind for r in runs] == ["cnn", "mlp"]
    assert runs[1].spec.model.fc == [256, 128]


def test_invalid_sweep_combination_is_named(tmp_path):
    experiment = load_experiment(write(tmp_path, "sweep: {'model.conv[0].stride': [1, 0]}"))
    with pytest.raises(SpecError, match=r"sweep combination model.conv\[0\].stride=0: .*must be >= 1"):
        expand_runs(experiment)


def test_resolved_spec_round_trips(tmp_path):
    spec = resolve({"model": {"preset": "lenet5_classic"}, "train": {"optimizer": "adam"}})
    again = Spec.model_validate(yaml.safe_load(yaml.safe_dump(spec.resolved())))
    assert again.resolved() == spec.resolved()


# --- hostile and out-of-range input: one line, the key, before any run exists ------------------

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{k}: &{k} [{', '.join([f'*{p}'] * 9)}]\n" for p, k in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize(
    ("text", "overrides", "expected"),
    [
        ("seed: 2024-13-45\n", [], "seed: Input should be a valid integer, got '2024-13-45'"),
        ("name: x\n", ["seed=!!int x"], "--set 'seed=!!int x': 'x' is not an integer"),
        ("seed: " + "9" * 5000 + "\n", [], "exp.yaml: a 5000-digit integer is too large; cnnlab's integers fit in "
                                          "64 bits (line 1)"),
        ("seed: 99999999999999999999\n", [], "is too large; cnnlab's integers fit in 64 bits (line 1)"),
        ("seed: !!set {1, 2}\n", [], "exp.yaml: unsupported YAML tag !!set"),
        ("model: {fc: !!binary aGVsbG8=}\n", [], "unsupported YAML tag !!binary"),
        (BOMB, [], "exp.yaml: the document expands (through its aliases) to more than 100,000 values"),
        ("a: &a [*a]\n", [], "an alias refers to the collection that contains it (line 1)"),
        ("x: " + "[" * 70 + "]" * 70 + "\n", [], "nested more than 64 levels deep"),
        ('sweep: {model.head: ["\\uDCFF"]}\n', [], "exp.yaml: a string escapes U+DCFF, a lone surrogate, which is "
                                                  "no text (line 1)"),
        ("name: x\n", ['name="a\\uD800"'], r"""--set 'name="a\\uD800"': a string escapes U+D800"""),
    ],
    ids=["impossible-date", "set-int-tag", "5000-digits", "int64-overflow", "set-tag", "binary-tag",
         "billion-laughs", "recursive-alias", "deep-nesting", "lone-surrogate", "lone-surrogate-set"],
)
def test_yaml_that_is_not_plain_data_is_one_line(tmp_path, text, overrides, expected):
    with pytest.raises(SpecError) as caught:
        load_spec(write(tmp_path, text), overrides)
    message = str(caught.value)
    assert expected in message and "\n" not in message and len(message) < 300  # never the expanded document


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    import time

    start = time.perf_counter()
    with pytest.raises(SpecError):
        load_spec(write(tmp_path, "sweep:\n  seed: *i\n" + BOMB.replace("i: &i", "i: &i")), [])
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"train": {"optimizer": {"name": "sgd", "lr": 0}}},
         "train.optimizer: optimizer 'sgd' option 'lr': Input should be greater than 0"),
        ({"train": {"optimizer": {"name": "sgd", "momentum": 1}}}, "option 'momentum': Input should be less than 1"),
        ({"train": {"optimizer": {"name": "adam", "beta2": 1.0}}}, "option 'beta2': Input should be less than 1"),
        ({"train": {"optimizer": {"name": "adam", "eps": -1e-8}}}, "option 'eps': Input should be greater than 0"),
        ({"train": {"scheduler": {"name": "step", "step_size": 0}}}, "option 'step_size': Input should be greater than "
                                                                     "or equal to 1"),
        ({"train": {"scheduler": {"name": "onecycle", "pct_start": 1}}}, "option 'pct_start': Input should be less "
                                                                         "than 1"),
        ({"train": {"scheduler": {"name": "onecycle", "max_lr": 0}}}, "option 'max_lr': Input should be greater"),
        ({"model": {"norm": {"name": "group", "num_groups": 0}}}, "option 'num_groups': Input should be greater"),
        ({"model": {"norm": {"name": "batch", "momentum": 1.5}}}, "option 'momentum': Input should be less than or "
                                                                  "equal to 1"),
        ({"model": {"norm": {"name": "layer", "eps": 0}}}, "option 'eps': Input should be greater than 0"),
        ({"model": {"init": {"name": "uniform", "low": 1, "high": -1}}},
         "model.init: init 'uniform': low 1.0 is above high -1.0"),
        ({"train": {"optimizer": {"name": "sgd", "lr": float("nan")}}},
         "option 'lr': Input should be a finite number"),
        ({"model": {"activation": {"name": "leaky_relu", "negative_slope": float("inf")}}}, "finite number"),
        ({"train": {"min_delta": float("inf")}}, "train.min_delta: Input should be a finite number"),
        ({"data": {"normalize": {"mean": [float("nan")], "std": [1]}}}, "data.normalize.mean[0]: Input should be a "
                                                                         "finite number"),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"seed": 2**32}, "seed: Input should be less than 4294967296"),
        ({"seeds": [0, 2**40]}, "seeds[1]: Input should be less than 4294967296"),
        ({"train": {"threads": 0}}, "train.threads: Input should be greater than or equal to 1"),
        ({"train": {"threads": 100_000}}, "train.threads: Input should be less than or equal to 1024"),
        ({"sweep": {"model.activation": []}}, "sweep.model.activation: an empty list makes no runs"),
        ({"seeds": []}, "seeds: an empty list makes no runs"),
        ({"sweep": {"seed": list(range(200)), "train.epochs": list(range(1, 101))}},
         "sweep: 200 × 100 × 1 = 20,000 runs; one spec makes at most 10,000"),
    ],
)
def test_out_of_range_options_are_refused_when_the_spec_is_read(raw, expected):
    assert expected in error_of(raw)


def bound_violations(annotation):
    """Values just outside each bound an option's annotation declares (cnnlab.constraints)."""
    import annotated_types as at

    for bound in getattr(annotation, "__metadata__", ()):
        if isinstance(bound, at.Gt):
            yield bound.gt
        elif isinstance(bound, at.Ge):
            yield bound.ge - 1
        elif isinstance(bound, at.Lt):
            yield bound.lt
        elif isinstance(bound, at.Le):
            yield bound.le + 1


def test_every_declared_option_range_is_enforced_and_every_default_is_inside_it():
    from cnnlab.registry import LOCATIONS, RegistryError, registry

    checked = 0
    for kind in LOCATIONS:
        table = registry(kind)
        for name in table:
            table.validate_options(name, {})  # the defaults are valid
            for option in table.entry(name).options.values():
                for bad in bound_violations(option.annotation):
                    with pytest.raises(RegistryError, match=f"option '{option.name}': Input should be"):
                        table.validate_options(name, {option.name: bad})
                    checked += 1
    assert checked >= 30


def test_option_ranges_read_as_text():
    from cnnlab.constraints import Count, Momentum, OpenFraction, Positive, describe

    assert [describe(t) for t in (Positive, Momentum, OpenFraction, Count)] == [
        "float > 0", "float in [0, 1)", "float in (0, 1)", "int >= 1"]


def test_train_help_lists_every_option_range_from_the_registries(cli):
    result = cli("train", "--help")
    assert result.exit_code == 0
    for line in ("optimizer sgd: lr float > 0 (0.05), momentum float in [0, 1) (0.9)",
                 "scheduler onecycle: max_lr float > 0 (0.1), pct_start float in (0, 1) (0.25)",
                 "norm group: num_groups int >= 1 (8), eps float > 0 (1e-05)"):
        assert line in " ".join(result.stdout.split()), line
