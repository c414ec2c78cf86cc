"""LeNet-5 as LeCun et al. (1998) describe it: the classic preset's layers, their trainable parameters
(60,000 in all, plus the softmax head), C3's connection table, the trainable subsampling, and the
modern reading beside it."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from cnnlab.data.source import DatasetInfo
from cnnlab.models.builder import build_model
from cnnlab.models.layers import PartialConv2d, Subsample2d
from cnnlab.shape.analysis import analyze
from cnnlab.shape.layers import Activation, Pool, Subsample
from cnnlab.shape.plan import build_plan
from cnnlab.shape.tables import LENET5_C3
from cnnlab.spec import SpecError, resolve

DIGITS = DatasetInfo(1, 32, 32, 10, tuple("0123456789"))

# Table I of the paper: row i is S2 map i, column j is C3 map j; X where they are connected.
TABLE_I = """
X   XXX  XXXX XX
XX   XXX  XXXX X
XXX   XXX  X XXX
 XXX  XXXX  X XX
  XXX  XXXX XX X
   XXX  XXXX XXX
"""


def classic(info: DatasetInfo = DIGITS, **model):
    spec = resolve({"model": {"preset": "lenet5_classic", **model}})
    plan = build_plan(spec.model, info)
    torch.manual_seed(0)
    return plan, build_model(plan, spec.model.init, spec.model.bias_init)


def test_c3_connections_are_table_one():
    rows = [line.ljust(16) for line in TABLE_I.strip("\n").split("\n")]
    expected = tuple(tuple(i for i in range(6) if rows[i][j] == "X") for j in range(16))
    assert expected == LENET5_C3 and sum(map(len, LENET5_C3)) == 60


def test_classic_lenet5_has_the_papers_trainable_parameters():
    plan, net = classic()
    params = {row.name: row.params for row in analyze(plan, DIGITS.shape).rows if row.params}
    assert params == {"conv1": 156, "pool1": 12, "conv2": 1_516, "pool2": 32, "conv3": 48_120, "fc1": 10_164,
                      "head": 850}
    assert sum(params.values()) - params["head"] == 60_000
    assert sum(p.numel() for p in net.parameters()) == 60_850
    assert {name: sum(p.numel() for p in module.parameters()) for name, module in net.named_children()
            if any(True for _ in module.parameters())} == params


def test_classic_lenet5_layers_follow_the_paper():
    plan, net = classic()
    layers = dict(plan)
    assert [n for n, _ in plan] == ["conv1", "conv1_act", "pool1", "pool1_act", "conv2", "conv2_act", "pool2",
                                    "pool2_act", "conv3", "conv3_act", "flatten", "fc1", "fc1_act", "head"]
    assert all(layer.kind == "scaled_tanh" for layer in layers.values() if isinstance(layer, Activation))
    assert isinstance(layers["pool1"], Subsample) and layers["conv2"].connections == LENET5_C3
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(net.conv1_act(x), 1.7159 * torch.tanh(2 * x / 3))
    assert forward_shape(net) == (2, 10)


def forward_shape(net) -> tuple[int, ...]:
    return tuple(net(torch.randn(2, 1, 32, 32)).shape)


def test_modern_lenet5_stays_relu_and_max_pooling():
    spec = resolve({"model": {"preset": "lenet5"}})
    plan = dict(build_plan(spec.model, DIGITS))
    assert plan["conv1_act"] == Activation("relu") and isinstance(plan["pool1"], Pool) and plan["pool1"].kind == "max"
    assert plan["conv2"].connections is None


def test_partial_conv_is_a_sum_over_the_connected_maps_only():
    conv = PartialConv2d(6, 16, (5, 5), (1, 1), (0, 0), (1, 1), LENET5_C3)
    x = torch.randn(3, 6, 14, 14)
    kernels = iter(conv.weight)
    expected = torch.stack([
        sum(F.conv2d(x[:, i:i + 1], next(kernels)[None, None]) for i in inputs)[:, 0] + conv.bias[j]
        for j, inputs in enumerate(LENET5_C3)
    ], dim=1)
    assert torch.allclose(conv(x), expected, atol=1e-5)
    conv(x).sum().backward()
    assert conv.weight.grad.shape == (60, 5, 5) and torch.count_nonzero(conv.weight.grad.flatten(1).abs().sum(1)) == 60


def test_subsampling_sums_each_window_times_a_coefficient_plus_a_bias():
    sub = Subsample2d(3, (2, 2), (2, 2))
    x = torch.randn(2, 3, 6, 6)
    sums = x.reshape(2, 3, 3, 2, 3, 2).sum(dim=(3, 5))
    assert torch.allclose(sub(x), sums * sub.weight.view(1, 3, 1, 1) + sub.bias.view(1, 3, 1, 1), atol=1e-6)


def test_lecun_uniform_uses_each_units_own_fan_in():
    """U(±2.4/F_i): C3 maps see 3, 4 or 6 S2 maps through 5×5 kernels, so F_i is 75, 100 or 150."""
    _, net = classic()
    start = 0
    for inputs in LENET5_C3:
        kernels = net.conv2.weight[start:start + len(inputs)]
        start += len(inputs)
        bound = 2.4 / (25 * len(inputs))
        assert kernels.abs().max() <= bound and kernels.abs().max() > 0.8 * bound
    assert net.pool1.weight.abs().max() <= 2.4 / 4  # a subsampling unit sums 4 inputs


def test_instance_norm_on_c5s_one_pixel_map_is_refused():
    with pytest.raises(SpecError, match=r"model.norm \(layer conv3_norm\): instance norm on a 1×1 map"):
        classic(norm="instance")


def test_connection_table_errors_name_the_key():
    with pytest.raises(SpecError, match=r"model.conv\[0\].connections: unknown connection table 'lenet' "
                                        r"\(did you mean \"lenet5\"\?\)"):
        build_plan(resolve({"model": {"conv": [{"out_channels": 16, "connections": "lenet"}]}}).model, DIGITS)
    with pytest.raises(SpecError, match=r"model.conv\[0\] \(layer conv1\): conv connections\[1\] = \[0, 3\]: "
                                        r"each output channel needs distinct input channels between 0 and 0"):
        build_plan(resolve({"model": {"conv": [{"out_channels": 2, "connections": [[0], [0, 3]]}]}}).model, DIGITS)


def test_shape_shows_every_paper_figure(cli, tmp_path):
    spec = tmp_path / "lenet.yaml"
    spec.write_text("data: {dataset: mnist, pad: 2}\nmodel: {preset: lenet5_classic}\n")
    result = cli("shape", spec, "--format", "json")
    assert result.exit_code == 0, result.output
    layers = {layer["layer"]: layer for layer in json.loads(result.stdout)["layers"]}
    assert {name: layers[name]["params"] for name in ("conv1", "pool1", "conv2", "pool2", "conv3", "fc1", "head")} \
        == {"conv1": 156, "pool1": 12, "conv2": 1_516, "pool2": 32, "conv3": 48_120, "fc1": 10_164, "head": 850}
    assert "60 of 96 connections" in layers["conv2"]["type"] and layers["pool1"]["type"].startswith("subsample 2×2")
    table = cli("shape", spec).stdout
    for figure in ("156", "12", "1,516", "32", "48,120", "10,164", "850", "60,850"):
        assert f" {figure} " in table


def test_train_refuses_classic_with_instance_norm_before_any_run(cli, tmp_path):
    spec = tmp_path / "lenet.yaml"
    spec.write_text("data: {dataset: {name: shapes, image_size: 32}}\n"
                    "model: {preset: lenet5_classic, norm: instance}\n")
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "model.norm (layer conv3_norm): instance norm on a 1×1 map" in result.stderr
    assert not (tmp_path / "runs").exists()



def test_adhoc_layers_know_the_subsampling(cli):
    result = cli("shape", "--input", "6x28x28", "pool:subsample,k2", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert "pool1,subsample 2×2 s2 (sum·w+b),6×14×14,12," in result.stdout
