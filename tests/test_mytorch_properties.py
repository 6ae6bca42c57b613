"""Property tests of the reference mytorch (hypothesis).

What must hold for every input, not just for hand-picked ones: shapes and dtypes
(float32 in, float32 out; float64 likewise), inputs left untouched, gradients
shaped like their parameters, labels of any integer dtype, wrong shapes reported
with both the expected and the received shape, and a loss that stays finite and
silent for huge logits.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mytorch import nn, optim

# Modest example counts keep this file fast; no deadline (the first call may be slow
# on a loaded CI machine, which says nothing about the code).
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

DTYPES = st.sampled_from([np.float32, np.float64])
SIZES = st.integers(min_value=1, max_value=6)
INT_LABEL_DTYPES = [np.int8, np.uint8, np.int16, np.int32, np.int64]


def matrices(dtype, n, m, bound=10.0):
    return arrays(dtype, (n, m), elements=st.floats(-bound, bound, width=np.dtype(dtype).itemsize * 8))


@st.composite
def linear_cases(draw):
    dtype = draw(DTYPES)
    n, fan_in, fan_out = draw(SIZES), draw(SIZES), draw(SIZES)
    x = draw(matrices(dtype, n, fan_in))
    grad = draw(matrices(dtype, n, fan_out))
    seed = draw(st.integers(0, 2**32 - 1))
    return dtype, x, grad, seed


@st.composite
def loss_cases(draw, bound=10.0):
    dtype = draw(DTYPES)
    n = draw(SIZES)
    classes = draw(st.integers(min_value=1, max_value=6))
    logits = draw(matrices(dtype, n, classes, bound=bound))
    labels = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)), dtype=np.int64)
    return dtype, logits, labels


@st.composite
def network_cases(draw):
    dtype = draw(DTYPES)
    depth = draw(st.integers(min_value=1, max_value=3))
    widths = [draw(SIZES) for _ in range(depth)] + [draw(st.integers(min_value=2, max_value=5))]
    n = draw(SIZES)
    x = draw(matrices(dtype, n, widths[0], bound=3.0))
    labels = np.array(draw(st.lists(st.integers(0, widths[-1] - 1), min_size=n, max_size=n)), dtype=np.int64)
    lr = draw(st.sampled_from([0.01, 0.1, np.float64(0.5), np.float32(0.25)]))
    seed = draw(st.integers(0, 2**32 - 1))
    return dtype, widths, x, labels, lr, seed


def build(widths, dtype, seed):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(fan_in, fan_out, dtype=dtype, rng=rng))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def linears(model):
    return [layer for layer in model.layers if isinstance(layer, nn.Linear)]


# --- shapes, dtypes and no mutation ---------------------------------------------------


@FEW
@given(linear_cases())
def test_linear_shapes_dtypes_and_no_mutation(case):
    dtype, x, grad, seed = case
    n, fan_in = x.shape
    fan_out = grad.shape[1]
    layer = nn.Linear(fan_in, fan_out, dtype=dtype, rng=np.random.default_rng(seed))
    assert layer.weight.shape == (fan_in, fan_out) and layer.weight.dtype == dtype
    assert layer.bias.shape == (1, fan_out) and layer.bias.dtype == dtype
    x0, grad0, w0, b0 = x.copy(), grad.copy(), layer.weight.copy(), layer.bias.copy()

    out = layer.forward(x)
    assert out.shape == (n, fan_out) and out.dtype == dtype
    grad_x = layer.backward(grad)
    assert grad_x.shape == (n, fan_in) and grad_x.dtype == dtype
    assert layer.grad_weight.shape == layer.weight.shape and layer.grad_weight.dtype == dtype
    assert layer.grad_bias.shape == layer.bias.shape and layer.grad_bias.dtype == dtype

    for before, after, name in [(x0, x, "x"), (grad0, grad, "grad"), (w0, layer.weight, "weight"), (b0, layer.bias, "bias")]:
        np.testing.assert_array_equal(after, before, err_msg=f"{name} was modified")


@FEW
@given(DTYPES.flatmap(lambda dt: st.tuples(st.just(dt), arrays(dt, st.tuples(SIZES, SIZES), elements=st.floats(-5, 5, width=np.dtype(dt).itemsize * 8)))))
def test_relu_shapes_dtypes_and_no_mutation(case):
    dtype, x = case
    grad = np.ones_like(x) * dtype(3)
    x0, grad0 = x.copy(), grad.copy()
    layer = nn.ReLU()
    out = layer.forward(x)
    assert out.shape == x.shape and out.dtype == dtype
    assert (out >= 0).all()
    grad_x = layer.backward(grad)
    assert grad_x.shape == x.shape and grad_x.dtype == dtype
    np.testing.assert_array_equal(grad_x, np.where(x > 0, grad, 0))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(grad, grad0)


@FEW
@given(loss_cases())
def test_loss_is_a_python_float_and_its_gradient_keeps_the_dtype(case):
    dtype, logits, labels = case
    logits0, labels0 = logits.copy(), labels.copy()
    loss_function = nn.CrossEntropyLoss()
    loss = loss_function.forward(logits, labels)
    assert type(loss) is float
    assert np.isfinite(loss) and loss >= -1e-6
    grad = loss_function.backward()
    assert grad.shape == logits.shape and grad.dtype == dtype
    # Each row of (softmax - one-hot) / N sums to zero.
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(logits, logits0)
    np.testing.assert_array_equal(labels, labels0)


@FEW
@given(network_cases())
def test_a_training_step_keeps_shapes_and_dtypes(case):
    dtype, widths, x, labels, lr, seed = case
    model = build(widths, dtype, seed)
    optimizer = optim.SGD(model, lr=lr)
    loss_function = nn.CrossEntropyLoss()
    x0 = x.copy()

    optimizer.zero_grad()
    for layer in linears(model):
        assert layer.grad_weight.shape == layer.weight.shape and layer.grad_weight.dtype == dtype
        assert layer.grad_bias.shape == layer.bias.shape and layer.grad_bias.dtype == dtype
        assert not layer.grad_weight.any() and not layer.grad_bias.any()
    logits = model.forward(x)
    assert logits.shape == (x.shape[0], widths[-1]) and logits.dtype == dtype
    loss = loss_function.forward(logits, labels)
    assert type(loss) is float
    # Every Linear returns dLoss/dX, the first one too: out comes the gradient of the batch.
    grad_x = model.backward(loss_function)
    assert grad_x.shape == x.shape and grad_x.dtype == dtype
    saved = [(layer.grad_weight.copy(), layer.grad_bias.copy()) for layer in linears(model)]
    for layer in linears(model):
        assert layer.grad_weight.shape == layer.weight.shape and layer.grad_weight.dtype == dtype
        assert layer.grad_bias.shape == layer.bias.shape and layer.grad_bias.dtype == dtype

    optimizer.step()
    for layer, (grad_weight, grad_bias) in zip(linears(model), saved):
        assert layer.weight.shape == (layer.in_features, layer.out_features) and layer.weight.dtype == dtype
        assert layer.bias.shape == (1, layer.out_features) and layer.bias.dtype == dtype
        # step reads the gradients, it does not change them
        np.testing.assert_array_equal(layer.grad_weight, grad_weight)
        np.testing.assert_array_equal(layer.grad_bias, grad_bias)
    np.testing.assert_array_equal(x, x0)


@FEW
@given(network_cases())
def test_sgd_step_moves_each_parameter_against_its_gradient(case):
    dtype, widths, x, labels, lr, seed = case
    model = build(widths, dtype, seed)
    loss_function = nn.CrossEntropyLoss()
    loss_function.forward(model.forward(x), labels)
    model.backward(loss_function)
    before = [(layer.weight.copy(), layer.bias.copy()) for layer in linears(model)]
    optim.SGD(model, lr=lr).step()
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-15)
    for layer, (weight, bias) in zip(linears(model), before):
        np.testing.assert_allclose(layer.weight, weight - float(lr) * layer.grad_weight, **tol)
        np.testing.assert_allclose(layer.bias, bias - float(lr) * layer.grad_bias, **tol)


# --- labels ---------------------------------------------------------------------------


@FEW
@given(loss_cases())
def test_labels_of_any_integer_dtype_or_a_list_give_the_same_loss(case):
    _, logits, labels = case
    reference = nn.CrossEntropyLoss()
    expected_loss = reference.forward(logits, labels)
    expected_grad = reference.backward()
    variants = [labels.astype(dt) for dt in INT_LABEL_DTYPES] + [labels.tolist()]
    for variant in variants:
        loss_function = nn.CrossEntropyLoss()
        assert loss_function.forward(logits, variant) == expected_loss, f"labels as {type(variant)} {getattr(variant, 'dtype', '')}"
        np.testing.assert_array_equal(loss_function.backward(), expected_grad)


# --- wrong shapes ---------------------------------------------------------------------


def _names_both(excinfo, expected, received):
    message = str(excinfo.value)
    assert str(tuple(received)) in message, f"message does not name the received shape {received}: {message!r}"
    assert expected in message, f"message does not name the expected shape {expected}: {message!r}"


@FEW
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 3))
def test_wrong_shapes_raise_value_errors_naming_both_shapes(n, fan_in, fan_out, delta):
    layer = nn.Linear(fan_in, fan_out)

    bad_x = np.zeros((n, fan_in + delta), dtype=np.float32)
    with pytest.raises(ValueError) as excinfo:
        layer.forward(bad_x)
    _names_both(excinfo, str((n, fan_in)), bad_x.shape)

    flat_x = np.zeros(fan_in, dtype=np.float32)
    with pytest.raises(ValueError) as excinfo:
        layer.forward(flat_x)
    _names_both(excinfo, "(batch_size, features)", flat_x.shape)

    layer.forward(np.zeros((n, fan_in), dtype=np.float32))
    bad_grad = np.zeros((n, fan_out + delta), dtype=np.float32)
    with pytest.raises(ValueError) as excinfo:
        layer.backward(bad_grad)
    _names_both(excinfo, str((n, fan_out)), bad_grad.shape)

    relu = nn.ReLU()
    relu.forward(np.zeros((n, fan_in)))
    with pytest.raises(ValueError) as excinfo:
        relu.backward(np.zeros((n + delta, fan_in)))
    _names_both(excinfo, str((n, fan_in)), (n + delta, fan_in))

    loss_function = nn.CrossEntropyLoss()
    logits = np.zeros((n, fan_out + 1))
    with pytest.raises(ValueError) as excinfo:
        loss_function.forward(logits, np.zeros(n + delta, dtype=np.int64))
    _names_both(excinfo, str((n,)), (n + delta,))
    with pytest.raises(ValueError) as excinfo:
        loss_function.forward(logits[0], np.zeros(1, dtype=np.int64))
    _names_both(excinfo, "(batch_size, features)", logits[0].shape)


# --- numerical stability --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_give_a_finite_loss_without_warnings(dtype):
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0], [-1000.0, -1000.0, -1000.0]], dtype=dtype)
    labels = np.array([1, 0, 2])
    loss_function = nn.CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any RuntimeWarning (overflow, divide by zero, invalid) fails the test
        loss = loss_function.forward(logits, labels)
        grad = loss_function.backward()
    assert type(loss) is float and np.isfinite(loss)
    # Row 0: -log softmax = 2000; row 1: 2000 + log 2; row 2: log 3.
    assert loss == pytest.approx((2000 + 2000 + np.log(2) + np.log(3)) / 3, rel=1e-6)
    assert grad.dtype == dtype and np.isfinite(grad).all()
    expected = np.array([[1, -1, 0], [-1, 0.5, 0.5], [1 / 3, 1 / 3, -2 / 3]]) / 3
    np.testing.assert_allclose(grad, expected, atol=1e-6)


@FEW
@given(loss_cases(bound=1000.0))
def test_loss_and_gradient_stay_finite_and_silent_for_any_logits_up_to_1000(case):
    _, logits, labels = case
    loss_function = nn.CrossEntropyLoss()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = loss_function.forward(logits, labels)
        grad = loss_function.backward()
    assert type(loss) is float and np.isfinite(loss)
    assert np.isfinite(grad).all()


def test_the_warning_check_is_not_vacuous():
    """Control: the naive formula log(exp(I) / sum exp(I)) does warn at these logits,
    so the silence observed above is the reference's doing, not the check's blindness."""
    logits = np.array([[1000.0, -1000.0]], dtype=np.float32)
    with pytest.warns(RuntimeWarning):
        naive = np.log(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))
    assert not np.isfinite(naive).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.CrossEntropyLoss().forward(logits, [1]) == pytest.approx(2000.0)
