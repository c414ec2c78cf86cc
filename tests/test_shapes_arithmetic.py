"""cnnlab.shapes against PyTorch itself: output sizes, errors, receptive fields, params and MACs.

The property tests build the real torch module for each random configuration and run a tensor
through it, so "exact to PyTorch" is checked, not assumed. HYPOTHESIS_PROFILE=thorough runs
thousands of examples per property instead of a few hundred.
"""

from __future__ import annotations

import os
import warnings

import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from torch import nn

from cnnlab.data.source import DatasetInfo
from cnnlab.models.builder import build_model
from cnnlab.models.layers import PartialConv2d, Subsample2d
from cnnlab.models.presets import PRESETS
from cnnlab.shape.analysis import analyze
from cnnlab.shape.layers import (
    Activation,
    Conv,
    ConvTranspose,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Linear,
    Norm,
    Pool,
    ShapeError,
)
from cnnlab.shape.plan import build_plan
from cnnlab.shape.rules import output_shape
from cnnlab.shape.window import Window1D
from cnnlab.spec import resolve

PROPERTY = settings(
    max_examples=settings.get_profile("thorough").max_examples
    if os.environ.get("HYPOTHESIS_PROFILE") == "thorough"
    else 300,
    deadline=None,
)

sizes = st.integers(1, 64)
kernels = st.integers(1, 7)
strides = st.integers(1, 4)
paddings = st.integers(0, 3)
dilations = st.integers(1, 3)


def pairs(values: st.SearchStrategy[int]) -> st.SearchStrategy[tuple[int, int]]:
    """Mostly square, sometimes different per axis."""
    return st.one_of(values.map(lambda v: (v, v)), st.tuples(values, values))


def torch_module(layer) -> nn.Module:
    """The torch module a plan layer stands for, built here independently of cnnlab's builder."""
    if isinstance(layer, Conv):
        return nn.Conv2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.dilation, layer.groups, layer.bias,
        )
    if isinstance(layer, ConvTranspose):
        return nn.ConvTranspose2d(
            layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
            layer.output_padding, layer.groups, layer.bias, layer.dilation,
        )
    if isinstance(layer, Pool) and layer.kind == "max":
        return nn.MaxPool2d(
            layer.kernel_size, layer.stride, layer.padding, layer.dilation, ceil_mode=layer.ceil_mode
        )
    if isinstance(layer, Pool):
        return nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, ceil_mode=layer.ceil_mode)
    if isinstance(layer, GlobalAvgPool):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, Flatten):
        return nn.Flatten()
    if isinstance(layer, Linear):
        return nn.Linear(layer.in_features, layer.out_features, layer.bias)
    if isinstance(layer, Norm) and layer.kind == "group":
        return nn.GroupNorm(layer.options["num_groups"], layer.channels, affine=layer.affine)
    if isinstance(layer, Norm):
        return (nn.BatchNorm2d if layer.spatial else nn.BatchNorm1d)(layer.channels, affine=layer.affine)
    if isinstance(layer, Activation):
        return nn.ReLU()
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.p)
    raise TypeError(layer)


def torch_shape(layer, shape):
    """The per-image output shape torch gives, or the exception it raises (building or running).

    Some kernels return an empty tensor where others raise (a grouped transposed conv gives a 0×0
    map where the ungrouped one raises "Output size is too small"); an empty output counts as an
    error, which is what cnnlab reports for it.
    """
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            out = tuple(torch_module(layer)(torch.zeros(1, *shape)).shape[1:])
    except (RuntimeError, ValueError) as err:
        return err
    return out if min(out) > 0 else RuntimeError(f"empty output {out}")


def ours(layer, shape):
    try:
        return output_shape(layer, shape)
    except ShapeError as err:
        return err


def assert_same_outcome(layer, shape):
    expected, got = torch_shape(layer, shape), ours(layer, shape)
    event("torch raises" if isinstance(expected, Exception) else "torch gives a shape")
    if isinstance(expected, Exception):
        assert isinstance(got, ShapeError), f"torch raised {expected!r}, cnnlab gave {got}"
        assert "\n" not in str(got)
    else:
        assert got == expected, f"torch gives {expected}, cnnlab {got!r}"


# ---------------------------------------------------------------- output sizes vs torch


@PROPERTY
@given(
    size=pairs(sizes), kernel=pairs(kernels), stride=pairs(strides), dilation=pairs(dilations),
    padding=st.one_of(pairs(paddings), st.sampled_from(["same", "valid"])),
    groups=st.integers(1, 3), in_per_group=st.integers(1, 2), out_channels=st.integers(1, 6),
    mistake=st.sampled_from([None] * 8 + ["groups", "channels"]),
)
def test_conv_output_and_errors_match_torch(
    size, kernel, stride, dilation, padding, groups, in_per_group, out_channels, mistake
):
    in_channels = groups * in_per_group + (mistake == "groups")
    layer = Conv(in_channels, out_channels, kernel, stride, padding, dilation, groups)
    assert_same_outcome(layer, (in_channels + (mistake == "channels"), *size))


@PROPERTY
@given(
    kind=st.sampled_from(["max", "avg"]), size=pairs(sizes), kernel=pairs(kernels), stride=pairs(strides),
    padding=pairs(paddings), dilation=pairs(dilations), ceil_mode=st.booleans(),
)
def test_pool_output_and_errors_match_torch(kind, size, kernel, stride, padding, dilation, ceil_mode):
    dilation = dilation if kind == "max" else (1, 1)  # nn.AvgPool2d has no dilation
    assert_same_outcome(Pool(kind, kernel, stride, padding, dilation, ceil_mode), (2, *size))


@PROPERTY
@given(
    size=pairs(st.integers(1, 32)), kernel=pairs(kernels), stride=pairs(strides), padding=pairs(paddings),
    output_padding=pairs(st.integers(0, 3)), dilation=pairs(dilations), groups=st.integers(1, 2),
)
def test_conv_transpose_output_and_errors_match_torch(
    size, kernel, stride, padding, output_padding, dilation, groups
):
    layer = ConvTranspose(2, 2, kernel, stride, padding, output_padding, dilation, groups)
    assert_same_outcome(layer, (2, *size))


@PROPERTY
@given(
    size=st.integers(-1, 64), kernel=st.integers(0, 7), stride=st.integers(0, 4), dilation=st.integers(1, 3),
    padding=st.one_of(st.integers(0, 3), st.sampled_from(["same", "valid"])), pool=st.booleans(),
    ceil_mode=st.booleans(),
)
def test_the_one_axis_calculator_agrees_with_the_layer_rules(size, kernel, stride, dilation, padding, pool, ceil_mode):
    window = Window1D(kernel, stride, padding, dilation, pool, ceil_mode and pool)
    square_padding = padding if isinstance(padding, str) else (padding, padding)
    if size < 1 or (pool and isinstance(padding, str)):  # no layer to compare with: both are errors
        expected = ShapeError("no such layer")
    elif pool:
        expected = ours(Pool("max", (kernel,) * 2, (stride,) * 2, square_padding, (dilation,) * 2, ceil_mode),
                        (1, size, size))
    else:
        expected = ours(Conv(1, 1, (kernel,) * 2, (stride,) * 2, square_padding, (dilation,) * 2), (1, size, size))
    try:
        got = window.output(size).size
    except ShapeError as err:
        got = err
    if isinstance(expected, Exception):
        assert isinstance(got, ShapeError)
    else:
        assert got == expected[1]


@pytest.mark.parametrize(
    ("size", "expected"),
    [((32, 32), (16, 16)), ((6, 7), (3, 4))],  # PyTorch's ceil_mode issue cases: not 17, not 4×4
)
def test_ceil_mode_drops_a_window_that_starts_in_the_padding(size, expected):
    layer = Pool("max", (1, 1), (2, 2), ceil_mode=True)
    assert output_shape(layer, (1, *size)) == (1, *expected) == torch_shape(layer, (1, *size))


def test_same_padding_puts_the_odd_pixel_on_the_right():
    layer = Conv(1, 1, (4, 4), padding="same")
    assert output_shape(layer, (1, 9, 10)) == (1, 9, 10) == torch_shape(layer, (1, 9, 10))
    assert analyze([("c", layer)], (1, 9, 10)).rows[0].field.first == (-1, -1)


@pytest.mark.parametrize(
    ("layer", "shape", "words"),
    [
        (Conv(1, 4, (3, 3), stride=(2, 2), padding="same"), (1, 8, 8), "'same' needs stride 1"),
        (Conv(3, 4, (3, 3)), (1, 8, 8), "expects 3 input channels"),
        (Pool("avg", (2, 2), (2, 2), dilation=(2, 2)), (1, 8, 8), "no dilation"),
        (Pool("max", (3, 3), (1, 1), padding=(2, 2), dilation=(2, 2)), (1, 8, 8), "half the kernel size 3"),
        (Linear(10, 2), (3, 2, 2), "flat input"),
        (Linear(10, 2), (12,), "expects 10 input features"),
        (Norm("batch", 4), (3, 8, 8), "built for 4 channels"),
    ],
)
def test_broken_rules_raise_one_line_naming_the_rule(layer, shape, words):
    with pytest.raises(ShapeError, match=words) as err:
        output_shape(layer, shape)
    assert "\n" not in str(err.value)


def test_shape_keeping_and_flattening_layers():
    assert output_shape(GlobalAvgPool(), (16, 5, 5)) == (16,)
    assert output_shape(Flatten(), (16, 5, 5)) == (400,)
    for layer in (Norm("batch", 16), Activation("relu"), Dropout(0.5)):
        assert output_shape(layer, (16, 5, 5)) == (16, 5, 5)


# ---------------------------------------------------------------- receptive field


LENET5 = [
    ("conv1", Conv(1, 6, (5, 5))),
    ("pool1", Pool("max", (2, 2), (2, 2))),
    ("conv2", Conv(6, 16, (5, 5))),
    ("pool2", Pool("max", (2, 2), (2, 2))),
    ("conv3", Conv(16, 120, (5, 5))),
    ("flatten", Flatten()),
    ("fc1", Linear(120, 84)),
    ("head", Linear(84, 10)),
]


def test_lenet5_receptive_fields_and_jumps():
    rows = analyze(LENET5, (1, 32, 32)).rows
    assert [row.field.size[0] for row in rows[:5]] == [5, 6, 14, 16, 32]
    assert [row.field.jump[0] for row in rows[:5]] == [1, 2, 2, 4, 4]
    assert [row.out_shape[1] for row in rows[:5]] == [28, 14, 10, 5, 1]
    assert all(row.field.whole_input for row in rows[5:])
    assert analyze(LENET5, (1, 32, 32)).receptive_field == 32  # C5's units see the whole 32×32 input
    assert analyze(LENET5[:4], (1, 32, 32)).receptive_field == 16
    assert analyze([("fc", Linear(784, 10))], (784,)).receptive_field is None


def test_analyze_names_the_layer_and_the_numbers():
    plan = LENET5[:2] + [("conv3", Conv(6, 8, (5, 5)))]
    with pytest.raises(ShapeError) as err:
        analyze(plan, (1, 10, 10))
    assert str(err.value) == (
        "layer conv3: output height (⌊(3 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = -1) is below 1; "
        "the 5-pixel kernel window does not fit in the 3 padded input pixels"
    )


def test_dilated_stack_matches_a_hand_computation():
    plan = [
        ("c1", Conv(1, 1, (3, 3), padding=(1, 1))),
        ("c2", Conv(1, 1, (3, 3), padding=(2, 2), dilation=(2, 2))),
        ("c3", Conv(1, 1, (3, 3), padding=(4, 4), dilation=(4, 4))),
        ("p", Pool("max", (2, 2), (2, 2))),
        ("c4", Conv(1, 1, (3, 3), padding=(2, 2), dilation=(2, 2))),
    ]
    # r += (d(k−1)+1 − 1)·j; j *= s; first −= p·j (j before the layer)
    fields = [row.field for row in analyze(plan, (1, 32, 32)).rows]
    assert [f.size[0] for f in fields] == [3, 7, 15, 16, 24]
    assert [f.jump[0] for f in fields] == [1, 1, 1, 2, 2]
    assert [f.first[0] for f in fields] == [-1, -3, -7, -7, -11]
    assert [f.center[0] for f in fields] == [0, 0, 0, 0.5, 0.5]


window_stacks = st.lists(
    st.one_of(
        st.tuples(st.just("conv"), st.integers(1, 5), st.integers(1, 2), st.integers(1, 2)),
        st.tuples(st.just("avg"), st.integers(1, 3), st.integers(1, 2), st.just(1)),
    ),
    min_size=1,
    max_size=4,
)


def stack_plan(stack):
    plan = []
    for i, (kind, k, s, d) in enumerate(stack):
        pad = (k // 2, k // 2)
        layer = Conv(1, 1, (k, k), (s, s), pad, (d, d)) if kind == "conv" else Pool("avg", (k, k), (s, s), pad)
        plan.append((f"l{i}", layer))
    return plan


@settings(max_examples=60, deadline=None)
@given(stack=window_stacks, size=st.integers(8, 40))
def test_gradient_of_one_unit_is_nonzero_exactly_inside_its_field(stack, size):
    plan = stack_plan(stack)
    try:
        rows = analyze(plan, (1, size, size)).rows
    except ShapeError:
        return
    model = nn.Sequential(*(torch_module(layer) for _, layer in plan)).double()
    for module in model.modules():  # positive weights: every path adds, nothing cancels
        if isinstance(module, nn.Conv2d):
            nn.init.constant_(module.weight, 1.0)
            nn.init.zeros_(module.bias)
    field, last = rows[-1].field, rows[-1].out_shape[1] - 1
    for unit in sorted({0, last // 2, last}):
        image = torch.rand(1, 1, size, size, dtype=torch.float64, requires_grad=True)
        model(image)[0, 0, unit, unit].backward()
        seen = (image.grad[0, 0] != 0).nonzero()
        start = field.first[0] + unit * field.jump[0]
        end = start + field.size[0] - 1
        lo, hi = max(start, 0), min(end, size - 1)
        holes = not all(d == 1 and s <= k for _, k, s, d in stack)
        if len(seen) == 0:  # every tap falls in the padding or, with holes in the field, between pixels
            assert lo > hi or holes
            continue
        assert lo <= seen.min().item() and seen.max().item() <= hi
        if (lo, hi) == (start, end):  # field inside the image: its first and last pixel are taps
            assert (seen.min().item(), seen.max().item()) == (start, end)
        if not holes:  # every pixel of the field is seen
            assert len(seen) == (hi - lo + 1) ** 2


def test_no_field_after_a_transposed_convolution():
    rows = analyze([("up", ConvTranspose(1, 1, (2, 2), (2, 2))), ("c", Conv(1, 1, (3, 3)))], (1, 8, 8)).rows
    assert rows[0].field is None and rows[1].field is None


# ---------------------------------------------------------------- params and MACs vs torch modules


def hooked_macs(model: nn.Module, shape) -> int:
    """Multiply-accumulates counted from the real modules' weights and tensors via forward hooks."""
    total = 0

    def count(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output[0].numel() * module.weight[0].numel()
        elif isinstance(module, PartialConv2d):  # each kernel slides over the output positions
            total += output[0, 0].numel() * module.weight.numel()
        elif isinstance(module, Subsample2d):  # one multiply per output
            total += output[0].numel()
        elif isinstance(module, nn.ConvTranspose2d):
            total += inputs[0][0].numel() * module.weight[0].numel()
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    for module in model.modules():
        module.register_forward_hook(count)
    with torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    return total


PLANS = {
    "lenet5": (LENET5, (1, 32, 32)),
    "vgg_like": (
        [
            ("conv1", Conv(3, 16, (3, 3), padding="same", bias=False)),
            ("norm1", Norm("batch", 16)),
            ("act1", Activation("relu")),
            ("conv2", Conv(16, 32, (3, 3), (2, 2), (1, 1), groups=4)),
            ("norm2", Norm("group", 32, {"num_groups": 4})),
            ("pool", Pool("avg", (2, 2), (2, 2), ceil_mode=True)),
            ("up", ConvTranspose(32, 8, (2, 3), (2, 2), (0, 1), dilation=(1, 2))),
            ("gap", GlobalAvgPool()),
            ("fc", Linear(8, 20)),
            ("norm3", Norm("batch", 20, affine=False, spatial=False)),
            ("drop", Dropout(0.5)),
            ("head", Linear(20, 10)),
        ],
        (3, 33, 31),
    ),
}


def torch_out_shapes(model: nn.Sequential, shape) -> list[tuple[int, ...]]:
    """Per-image output shape of each top-level module, from a real forward pass."""
    shapes, x = [], torch.zeros(1, *shape)
    with torch.no_grad():
        for module in model.eval():
            x = module(x)
            shapes.append(tuple(x.shape[1:]))
    return shapes


@pytest.mark.parametrize("name", PLANS)
def test_params_macs_and_shapes_match_the_torch_modules(name):
    plan, shape = PLANS[name]
    analysis = analyze(plan, shape)
    model = nn.Sequential(*(torch_module(layer) for _, layer in plan))
    assert analysis.params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert analysis.macs == hooked_macs(model, shape)
    assert [row.out_shape for row in analysis.rows] == torch_out_shapes(model, shape)


@pytest.mark.parametrize("preset", PRESETS.names())
@pytest.mark.parametrize("info", [DatasetInfo(1, 32, 32, 10, tuple("0123456789")),
                                  DatasetInfo(3, 32, 32, 100, tuple(map(str, range(100))))])
def test_every_preset_matches_the_model_the_builder_makes(preset, info):
    plan = build_plan(resolve({"model": {"preset": preset}}).model, info)
    model = build_model(plan)
    analysis = analyze(plan, info.shape)
    assert analysis.params == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert analysis.macs == hooked_macs(model, info.shape)
    assert [row.out_shape for row in analysis.rows] == torch_out_shapes(model, info.shape)
