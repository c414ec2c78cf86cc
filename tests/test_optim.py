"""Every optimizer and schedule builds, steps and checkpoints; schedules follow their formulas."""

from __future__ import annotations

import io

import pytest
import torch

from cnnlab.train.optim import OPTIMIZERS, SCHEDULERS


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def roundtrip(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("name", OPTIMIZERS.names())
def test_each_optimizer_reduces_the_loss(name):
    model = tiny_model()
    opt = OPTIMIZERS.build(name, model.parameters(), **OPTIMIZERS.validate_options(name, {"lr": 0.01}))
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    opt.load_state_dict(roundtrip(opt.state_dict()))


def lrs(name: str, steps_per_epoch: int, epochs: int, **options) -> list[float]:
    opt = torch.optim.SGD(tiny_model().parameters(), lr=0.1)
    sched = SCHEDULERS.build(name, opt, steps_per_epoch, epochs, **SCHEDULERS.validate_options(name, options))
    out = []
    for _ in range(steps_per_epoch * epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    sched.load_state_dict(roundtrip(sched.state_dict()))
    return out


@pytest.mark.parametrize("name", SCHEDULERS.names())
def test_each_schedule_steps_and_checkpoints(name):
    values = lrs(name, 5, 4)
    assert len(values) == 20 and all(v >= 0 for v in values)


def test_schedule_shapes():
    assert set(lrs("none", 5, 4)) == {0.1}
    step = lrs("step", 5, 4, step_size=2, gamma=0.5)
    assert step[:10] == [0.1] * 10 and step[10:] == pytest.approx([0.05] * 10)
    cosine = lrs("cosine", 10, 2, min_lr=0.001)
    assert cosine[0] == 0.1 and cosine[10] == pytest.approx((0.1 + 0.001) / 2) and cosine[-1] < 0.002
    one = lrs("onecycle", 10, 2, max_lr=0.5, pct_start=0.25)
    assert max(one) == pytest.approx(0.5, rel=0.02) and one.index(max(one)) in (4, 5) and one[-1] < 0.01
