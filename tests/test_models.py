"""Every registered activation, init, norm, pooling and preset builds, runs forward and backward, and
does what its name promises."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from cnnlab.data.source import DatasetInfo
from cnnlab.models.activations import ACTIVATIONS, GAINS, gain
from cnnlab.models.builder import build_model
from cnnlab.models.inits import INITS
from cnnlab.models.norms import NORMS
from cnnlab.models.pooling import POOLS
from cnnlab.models.presets import PRESETS
from cnnlab.shape.layers import Activation, Conv, Linear, Pool, Subsample
from cnnlab.shape.plan import build_plan
from cnnlab.spec import SpecError, resolve

MNIST_LIKE = DatasetInfo(1, 28, 28, 10, tuple("0123456789"))
CIFAR_LIKE = DatasetInfo(3, 32, 32, 10, tuple("abcdefghij"))


def model_for(model: dict, info: DatasetInfo = MNIST_LIKE):
    spec = resolve({"model": model})
    torch.manual_seed(0)
    plan = build_plan(spec.model, info)
    return plan, build_model(plan, spec.model.init, spec.model.bias_init)


def forward_backward(net, info: DatasetInfo, batch: int = 4) -> torch.Tensor:
    x = torch.randn(batch, *info.shape, requires_grad=True)
    out = net(x)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    return out


SMALL_CNN = {"conv": [{"out_channels": 8, "kernel_size": 3, "padding": 1, "pool": {"type": "max", "kernel_size": 2}},
                      {"out_channels": 8, "kernel_size": 3}], "fc": [16]}


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_each_activation(name):
    _, net = model_for({**SMALL_CNN, "activation": name, "norm": "none"})
    assert forward_backward(net, MNIST_LIKE).shape == (4, 10)


def test_activation_formulas():
    x = torch.linspace(-3, 3, 13)
    assert torch.allclose(ACTIVATIONS.build("scaled_tanh")(x), 1.7159 * torch.tanh(2 * x / 3))
    assert torch.allclose(ACTIVATIONS.build("leaky_relu", negative_slope=0.2)(x), torch.where(x > 0, x, 0.2 * x))
    assert torch.equal(ACTIVATIONS.build("identity")(x), x)


@pytest.mark.parametrize("name", INITS.names())
def test_each_init(name):
    _, net = model_for({**SMALL_CNN, "init": name})
    assert forward_backward(net, MNIST_LIKE).shape == (4, 10)


@pytest.mark.parametrize("name", NORMS.names())
@pytest.mark.parametrize("position", ["before", "after"])
def test_each_norm(name, position):
    model = {**SMALL_CNN, "norm": {"name": name, "num_groups": 4} if name == "group" else name,
             "norm_position": position}
    plan, net = model_for(model)
    assert forward_backward(net, MNIST_LIKE).shape == (4, 10)
    names = [n for n, _ in plan]
    if name != "none":
        first_norm, first_act = names.index("conv1_norm"), names.index("conv1_act")
        assert (first_norm < first_act) == (position == "before")
    else:
        assert not any(n.endswith("_norm") for n in names)


def test_mlp_norm_applies_to_hidden_layers_and_instance_is_refused():
    plan, net = model_for({"preset": "mlp", "norm": "batch"})
    assert isinstance(net.fc1_norm, torch.nn.BatchNorm1d)
    with pytest.raises(SpecError, match=r"model.norm \(layer fc1_norm\): instance norm needs C×H×W feature maps"):
        model_for({"preset": "mlp", "norm": "instance"})


def test_group_norm_needs_divisible_channels():
    with pytest.raises(SpecError, match=r"model.norm \(layer conv1_norm\): group norm, num_groups=3: .* has 8"):
        model_for({**SMALL_CNN, "norm": {"name": "group", "num_groups": 3}})


@pytest.mark.parametrize("name", POOLS.names())
def test_each_pooling(name):
    plan, net = model_for({"conv": [{"out_channels": 4, "kernel_size": 3, "pool": {"type": name, "kernel_size": 3,
                                                                                  "stride": 2, "padding": 1,
                                                                                  "ceil_mode": True}}]})
    pool = dict(plan)["pool1"]
    assert isinstance(pool, Subsample) if name == "subsample" else isinstance(pool, Pool) and pool.kind == name
    assert forward_backward(net, MNIST_LIKE).shape == (4, 10)
    assert type(net.pool1).__name__ == {"max": "MaxPool2d", "avg": "AvgPool2d", "subsample": "Subsample2d"}[name]


@pytest.mark.parametrize("name", PRESETS.names())
def test_each_preset(name):
    info = CIFAR_LIKE
    _, net = model_for({"preset": name}, info)
    assert forward_backward(net, info).shape == (4, 10)


def test_modern_lenet5_has_61706_parameters():
    _, net = model_for({"preset": "lenet5"}, DatasetInfo(1, 32, 32, 10, tuple("0123456789")))
    assert sum(p.numel() for p in net.parameters()) == 61_706


def test_global_pool_and_dropout_and_sigmoid_head():
    info = DatasetInfo(1, 16, 16, 2, ("no", "yes"))
    plan, net = model_for({**SMALL_CNN, "global_pool": True, "dropout": 0.5, "head": "sigmoid"}, info)
    names = [n for n, _ in plan]
    assert "global_pool" in names and "head_drop" in names and "fc1_drop" in names
    assert forward_backward(net, info).shape == (4, 1)
    with pytest.raises(SpecError, match="model.head: sigmoid is the binary output"):
        model_for({"head": "sigmoid"})


def test_mlp_kind_ignores_conv():
    plan, net = model_for({"kind": "mlp", "fc": [32]})
    assert not any(isinstance(layer, Conv) for _, layer in plan)
    assert [type(layer) for _, layer in plan].count(Linear) == 2


def test_impossible_stack_is_refused_before_any_tensor():
    conv = [{"out_channels": 4, "kernel_size": 5}] * 7  # 28 → 24 → 20 → ... → 4 → 0
    with pytest.raises(SpecError, match=r"model.conv\[6\] \(layer conv7\): .*below 1"):
        model_for({"conv": conv, "norm": "none"})


def _layer_weights(net):
    return [m.weight for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def fan_in_out(w: torch.Tensor) -> tuple[int, int]:
    receptive = w[0][0].numel()
    return w.shape[1] * receptive, w.shape[0] * receptive


BIG = {"conv": [{"out_channels": 64, "kernel_size": 5, "padding": 2}, {"out_channels": 64, "kernel_size": 3}],
       "fc": [512], "norm": "none"}


@pytest.mark.parametrize(
    ("init", "activation", "expected_std"),
    [
        ("xavier_normal", "identity", lambda fi, fo: math.sqrt(2 / (fi + fo))),
        ("xavier_normal", "tanh", lambda fi, fo: math.sqrt(2 / (fi + fo))),  # gain 1, as Glorot & Bengio
        ({"name": "xavier_normal", "gain": "auto"}, "tanh", lambda fi, fo: 5 / 3 * math.sqrt(2 / (fi + fo))),
        ({"name": "xavier_uniform", "gain": 2}, "relu", lambda fi, fo: 2 * math.sqrt(6 / (fi + fo)) / math.sqrt(3)),
        ("kaiming_normal", "elu", lambda fi, fo: 1.2452 / math.sqrt(fi)),
        ("xavier_uniform", "identity", lambda fi, fo: math.sqrt(6 / (fi + fo)) / math.sqrt(3)),
        ("kaiming_normal", "relu", lambda fi, fo: math.sqrt(2) / math.sqrt(fi)),
        ("kaiming_uniform", "relu", lambda fi, fo: math.sqrt(2) / math.sqrt(fi)),
        ("kaiming_normal", "tanh", lambda fi, fo: 5 / 3 / math.sqrt(fi)),
        ({"name": "kaiming_normal", "mode": "fan_out"}, "relu", lambda fi, fo: math.sqrt(2) / math.sqrt(fo)),
        ("lecun_normal", "relu", lambda fi, fo: 1 / math.sqrt(fi)),
        ({"name": "normal", "std": 0.05}, "relu", lambda fi, fo: 0.05),
    ],
)
def test_init_statistics_follow_their_formula(init, activation, expected_std):
    _, net = model_for({**BIG, "init": init, "activation": activation})
    for w in _layer_weights(net)[:-1]:  # the head is followed by no activation: gain 1
        if w.numel() < 20_000:
            continue
        expected = expected_std(*fan_in_out(w))
        assert w.std().item() == pytest.approx(expected, rel=0.05)
        assert abs(w.mean().item()) < 0.1 * expected
    for m in net.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)):
            assert torch.count_nonzero(m.bias) == 0  # named schemes zero the biases


def test_leaky_relu_gain_follows_the_slope():
    _, net = model_for({**BIG, "init": "kaiming_normal", "activation": {"name": "leaky_relu", "negative_slope": 0.5}})
    w = _layer_weights(net)[1]
    assert w.std().item() == pytest.approx(math.sqrt(2 / (1 + 0.5**2)) / math.sqrt(fan_in_out(w)[0]), rel=0.05)


def test_kaiming_gains_of_the_first_layer_and_the_head():
    """fan_in mode: the first layer reads the image (gain 1, He et al. §2.2); fan_out mode: the gain of the
    activation after the layer (ReLU's for the first); the head has none after it: gain 1."""
    for mode, first, head in (("fan_in", 1.0, 1.0), ("fan_out", math.sqrt(2), 1.0)):
        _, net = model_for({"preset": "mlp", "fc": [1000], "init": {"name": "kaiming_normal", "mode": mode}})
        for w, g in ((net.fc1.weight, first), (net.head.weight, head)):
            fan = fan_in_out(w)[0 if mode == "fan_in" else 1]
            assert w.std().item() == pytest.approx(g / math.sqrt(fan), rel=0.05)


def test_default_init_keeps_pytorchs_biases():
    _, net = model_for({**SMALL_CNN, "init": "default", "norm": "none"})
    assert torch.count_nonzero(net.conv1.bias) > 0


def test_zero_init_makes_every_unit_of_a_layer_identical_even_after_training():
    _, net = model_for({**SMALL_CNN, "init": "zeros", "norm": "none"})
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        x, y = torch.randn(8, *MNIST_LIKE.shape), torch.randint(0, 10, (8,))
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    for w in _layer_weights(net)[:-1]:
        rows = w.detach().reshape(w.shape[0], -1)
        assert torch.allclose(rows, rows[0].expand_as(rows)), "units of a zero-initialized layer diverged"


def test_plan_and_model_agree_on_layer_names():
    plan, net = model_for({"preset": "vgg_small"}, CIFAR_LIKE)
    assert [n for n, _ in plan] == [n for n, _ in net.named_children()]
    assert isinstance(dict(plan)["conv1_act"], Activation)


# ---------------------------------------------------------------- activation gains


def _second_moment_of(module) -> float:
    """E[f(z)²], z ~ N(0, 1), of the torch module itself, by SciPy's adaptive quadrature."""
    from scipy import integrate

    def integrand(z: float) -> float:
        value = module(torch.tensor([z], dtype=torch.float64)).item()
        return value * value * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)

    return integrate.quad(integrand, -30, 30, limit=200, points=[0.0])[0]


def test_every_activation_states_its_gain_and_where_it_comes_from():
    assert set(GAINS) == set(ACTIVATIONS.names())
    assert all(g.origin for g in GAINS.values())


@pytest.mark.parametrize(("name", "options"), [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}),
                                               ("identity", {}), ("elu", {}), ("elu", {"alpha": 0.5}),
                                               ("gelu", {}), ("silu", {}), ("scaled_tanh", {}),
                                               ("scaled_tanh", {"amplitude": 1.0, "slope": 1.0})])
def test_derived_gains_follow_the_second_moment_rule(name, options):
    """gain = 1/sqrt(E[f(z)²]) with f the module cnnlab builds: He's √2 for ReLU, the rule elsewhere."""
    expected = 1 / math.sqrt(_second_moment_of(ACTIVATIONS.build(name, **options).double()))
    assert gain(name, options) == pytest.approx(expected, rel=1e-6)


def test_known_gains():
    assert gain("relu", {}) == pytest.approx(math.sqrt(2))
    assert gain("tanh", {}) == 5 / 3 and gain("sigmoid", {}) == 1.0  # PyTorch's calculate_gain, as stated
    assert gain("scaled_tanh", {}) == pytest.approx(1.1544, abs=1e-4)  # not tanh's 5/3
    assert gain("gelu", {}) == pytest.approx(1.5335, abs=1e-4) and gain("silu", {}) == pytest.approx(1.6765, abs=1e-4)


def deep_plain_net(activation: str, init, depth: int = 20, width: int = 64) -> dict:
    return {"activation": activation, "init": init, "norm": "none", "fc": [],
            "conv": [{"out_channels": width, "kernel_size": 3, "padding": 1}] * depth}


DEEP_INPUT = DatasetInfo(1, 24, 24, 10, tuple("0123456789"))  # large enough that the zero padding matters little


def activation_std_ratio(model: dict, seed: int, info: DatasetInfo = DEEP_INPUT):
    """std of the last conv block's activation over the first's, at init, on N(0, 1) images."""
    spec = resolve({"model": model})
    plan = build_plan(spec.model, info)
    torch.manual_seed(seed)
    net = build_model(plan, spec.model.init, spec.model.bias_init)
    outputs = []
    hooks = [m.register_forward_hook(lambda m, i, o: outputs.append(o.std().item()))
             for name, m in net.named_children() if name.endswith("_act")]
    with torch.no_grad():
        net(torch.randn(4, *info.shape, generator=torch.Generator().manual_seed(seed)))
    for hook in hooks:
        hook.remove()
    return outputs[-1] / outputs[0]


@pytest.mark.parametrize("name", ACTIVATIONS.names())
def test_kaiming_keeps_the_signal_of_a_deep_plain_net_for_every_activation(name):
    """20 conv layers 64 wide, no normalization: with each activation's gain the last layer's activation
    std stays within 0.25–4× of the first's (median over seeds: a finite layer's gain is itself random)."""
    ratios = [activation_std_ratio(deep_plain_net(name, "kaiming_normal"), seed) for seed in range(3)]
    assert 0.25 <= statistics.median(ratios) <= 4, ratios


def test_xavier_with_gain_1_shrinks_a_deep_relu_net_and_auto_gain_does_not():
    xavier = statistics.median(activation_std_ratio(deep_plain_net("relu", "xavier_normal"), s) for s in range(3))
    auto = {"name": "xavier_normal", "gain": "auto"}
    kept = statistics.median(activation_std_ratio(deep_plain_net("relu", auto), s) for s in range(3))
    assert xavier < 0.01 and 0.25 <= kept <= 4


@pytest.mark.parametrize(("init", "expected_gain"), [("orthogonal", math.sqrt(2)),
                                                     ({"name": "orthogonal", "gain": 1}, 1.0)])
def test_orthogonal_rows_are_orthonormal_times_the_gain(init, expected_gain):
    _, net = model_for({**SMALL_CNN, "norm": "none", "init": init})
    rows = net.conv2.weight.detach().reshape(8, -1)  # 8 units over 8·3·3 inputs
    assert torch.allclose(rows @ rows.T, expected_gain**2 * torch.eye(8), atol=1e-5)


def test_orthogonal_uses_the_activations_gain_by_default():
    kept = statistics.median(activation_std_ratio(deep_plain_net("relu", "orthogonal"), s) for s in range(3))
    assert 0.25 <= kept <= 4


# ---------------------------------------------------------------- bias before normalization


@pytest.mark.parametrize(("norm", "position", "biased"), [
    ("batch", "before", False), ("instance", "before", False), ({"name": "group", "num_groups": 4}, "before", True),
    ("layer", "before", True), ("batch", "after", True), ("none", "before", True),
])
def test_conv_bias_is_left_out_only_where_the_norm_cancels_it(norm, position, biased):
    plan, net = model_for({**SMALL_CNN, "norm": norm, "norm_position": position})
    assert (net.conv1.bias is not None) == biased and (net.conv2.bias is not None) == biased
    assert net.fc1.bias is not None and net.head.bias is not None  # fc layers of a cnn have no norm


def test_batch_norm_absorbs_the_bias_exactly():
    """Ioffe & Szegedy's reason: a per-channel constant before batch norm changes nothing after it."""
    norm = torch.nn.BatchNorm2d(8).train()
    x = torch.randn(16, 8, 5, 5)
    assert torch.allclose(norm(x), norm(x + torch.randn(1, 8, 1, 1)), atol=1e-5)
