"""Parity of the reference mytorch with PyTorch on random multi-layer perceptrons.

PyTorch is a test-only dependency: it serves as an independent reference here and
is never imported by mytorch itself. Conventions differ in two places, handled
below: mytorch's weight is (in, out), PyTorch's is (out, in); mytorch's bias is
(1, out), PyTorch's is (out,).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mytorch import nn, optim

torch = pytest.importorskip("torch")

RTOL = 1e-10
ATOL = 1e-13  # for entries that are (nearly) zero, where a relative tolerance means nothing

# Widths of the layers, input first: 1, 2, 3 and 4 Linear layers with ReLU between.
ARCHITECTURES = {
    "depth1": [7, 5],
    "depth2": [6, 9, 4],
    "depth3": [12, 16, 8, 10],
    "depth4": [20, 32, 24, 16, 10],
}


def _models(widths, dtype, seed):
    """A mytorch Sequential and a torch Sequential with identical parameters."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        linear = nn.Linear(fan_in, fan_out, dtype=dtype, rng=rng)
        tlinear = torch.nn.Linear(fan_in, fan_out, dtype=torch.float64 if dtype == np.float64 else torch.float32)
        with torch.no_grad():
            tlinear.weight.copy_(torch.from_numpy(linear.weight.T.copy()))
            tlinear.bias.copy_(torch.from_numpy(linear.bias[0].copy()))
        ours.append(linear)
        theirs.append(tlinear)
        if i < len(widths) - 2:
            ours.append(nn.ReLU())
            theirs.append(torch.nn.ReLU())
    return nn.Sequential(*ours), torch.nn.Sequential(*theirs)


def _batch(widths, n, dtype, seed):
    rng = np.random.default_rng(seed + 1000)
    x = rng.standard_normal((n, widths[0])).astype(dtype)
    labels = rng.integers(0, widths[-1], size=n)
    return x, labels


def _assert_same_parameters(model, tmodel, rtol=RTOL, atol=ATOL):
    linears = [layer for layer in model.layers if isinstance(layer, nn.Linear)]
    tlinears = [layer for layer in tmodel if isinstance(layer, torch.nn.Linear)]
    assert len(linears) == len(tlinears)
    for k, (layer, tlayer) in enumerate(zip(linears, tlinears)):
        assert_allclose(layer.weight, tlayer.weight.detach().numpy().T, rtol=rtol, atol=atol, err_msg=f"weight of Linear #{k}")
        assert_allclose(layer.bias, tlayer.bias.detach().numpy()[None, :], rtol=rtol, atol=atol, err_msg=f"bias of Linear #{k}")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_loss_and_every_gradient_match_torch(name, seed):
    widths = ARCHITECTURES[name]
    model, tmodel = _models(widths, np.float64, seed)
    x, labels = _batch(widths, n=16, dtype=np.float64, seed=seed)
    x_before = x.copy()

    loss_function = nn.CrossEntropyLoss()
    logits = model.forward(x)
    loss = loss_function.forward(logits, labels)
    grad_x = model.backward(loss_function)

    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    tlogits = tmodel(tx)
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.from_numpy(labels))
    tloss.backward()

    assert type(loss) is float
    assert loss == pytest.approx(tloss.item(), rel=RTOL)
    assert_allclose(logits, tlogits.detach().numpy(), rtol=RTOL, atol=ATOL, err_msg="logits")
    assert_allclose(grad_x, tx.grad.numpy(), rtol=RTOL, atol=ATOL, err_msg="gradient of the input")
    assert grad_x.shape == x.shape and grad_x.dtype == np.float64

    linears = [layer for layer in model.layers if isinstance(layer, nn.Linear)]
    tlinears = [layer for layer in tmodel if isinstance(layer, torch.nn.Linear)]
    for k, (layer, tlayer) in enumerate(zip(linears, tlinears)):
        assert layer.grad_weight.shape == layer.weight.shape
        assert layer.grad_bias.shape == layer.bias.shape
        assert_allclose(layer.grad_weight, tlayer.weight.grad.numpy().T, rtol=RTOL, atol=ATOL, err_msg=f"grad_weight of Linear #{k}")
        assert_allclose(layer.grad_bias, tlayer.bias.grad.numpy()[None, :], rtol=RTOL, atol=ATOL, err_msg=f"grad_bias of Linear #{k}")
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("lr", [0.05, 0.5])
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_parameters_after_several_sgd_steps_match_torch(name, lr):
    widths = ARCHITECTURES[name]
    model, tmodel = _models(widths, np.float64, seed=7)
    optimizer = optim.SGD(model, lr=lr)
    toptimizer = torch.optim.SGD(tmodel.parameters(), lr=lr)
    loss_function = nn.CrossEntropyLoss()
    rng = np.random.default_rng(11)

    losses, tlosses = [], []
    for _ in range(8):
        x = rng.standard_normal((12, widths[0]))
        labels = rng.integers(0, widths[-1], size=12)

        optimizer.zero_grad()
        losses.append(loss_function.forward(model.forward(x), labels))
        model.backward(loss_function)
        optimizer.step()

        toptimizer.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(labels))
        tloss.backward()
        toptimizer.step()
        tlosses.append(tloss.item())

    assert_allclose(losses, tlosses, rtol=RTOL)
    _assert_same_parameters(model, tmodel)
    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            assert layer.weight.dtype == np.float64 and layer.bias.dtype == np.float64


def test_training_on_one_batch_goes_down_like_torch():
    """Many steps on one batch: both fit it, and their loss curves agree."""
    widths = ARCHITECTURES["depth3"]
    model, tmodel = _models(widths, np.float64, seed=3)
    x, labels = _batch(widths, n=20, dtype=np.float64, seed=3)
    optimizer = optim.SGD(model, lr=0.2)
    toptimizer = torch.optim.SGD(tmodel.parameters(), lr=0.2)
    loss_function = nn.CrossEntropyLoss()
    tx, tlabels = torch.from_numpy(x), torch.from_numpy(labels)

    losses, tlosses = [], []
    for _ in range(60):
        optimizer.zero_grad()
        losses.append(loss_function.forward(model.forward(x), labels))
        model.backward(loss_function)
        optimizer.step()
        toptimizer.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(tx), tlabels)
        tloss.backward()
        toptimizer.step()
        tlosses.append(tloss.item())

    assert losses[-1] < 0.5 * losses[0]
    # Rounding differences grow over 60 steps, but stay far below any meaningful scale.
    assert_allclose(losses, tlosses, rtol=1e-8)
    _assert_same_parameters(model, tmodel, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name", ["depth2", "depth4"])
def test_float32_matches_torch_float32(name):
    """float32 stays float32 end to end, and agrees with torch's float32 to float32 precision."""
    widths = ARCHITECTURES[name]
    model, tmodel = _models(widths, np.float32, seed=5)
    x, labels = _batch(widths, n=16, dtype=np.float32, seed=5)
    optimizer = optim.SGD(model, lr=0.1)
    toptimizer = torch.optim.SGD(tmodel.parameters(), lr=0.1)
    loss_function = nn.CrossEntropyLoss()

    for _ in range(3):
        optimizer.zero_grad()
        logits = model.forward(x)
        loss = loss_function.forward(logits, labels)
        model.backward(loss_function)
        optimizer.step()
        toptimizer.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(labels))
        tloss.backward()
        toptimizer.step()
        assert logits.dtype == np.float32
        assert loss == pytest.approx(tloss.item(), rel=1e-5)

    for layer in model.layers:
        if isinstance(layer, nn.Linear):
            assert layer.weight.dtype == np.float32 and layer.bias.dtype == np.float32
            assert layer.grad_weight.dtype == np.float32 and layer.grad_bias.dtype == np.float32
    _assert_same_parameters(model, tmodel, rtol=1e-4, atol=1e-6)
