"""kanlab.transfer: copy, initialize_grid_from_another_model, initialize_from_another_model."""
import pytest
import torch

from kanlab import KAN, KANNetwork
from kanlab.transfer import initialize_grid_from_another_model

X = torch.rand(300, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 2 - 1


def trained_like(width, grid: int = 3, symbolic: bool = False, **kw) -> KAN:
    """A float64 model with far-from-initial splines, a masked edge, optionally a symbolic edge,
    and grids adapted to the layer inputs of X (so X lies inside every grid range)."""
    model = KAN(width, grid=grid, seed=0, noise_scale=3.0, dtype=torch.float64, **kw)
    model.remove_edge(0, 1, 0)
    if symbolic:
        model.fix_symbolic(0, 0, 1, "x^2", fit_params_bool=False, verbose=False)
    return model.update_grid_from_samples(X)


def test_copy_is_an_independent_deep_copy() -> None:
    model = trained_like([2, 3, 1])
    model.fix_symbolic(1, 0, 0, "sin", fit_params_bool=False, verbose=False)
    model.get_act(X)
    twin = model.copy()
    assert type(twin) is KAN and twin is not model
    torch.testing.assert_close(twin(X), model(X), atol=0, rtol=0)
    assert twin.symbolic_fun[1].funs_name == [["sin", "0", "0"]] and torch.equal(twin.cache_data, X)
    twin.act_fun[0].coef.data *= 2  # pykan's copy() example
    twin.refine(6)
    twin.unfix_symbolic(1, 0, 0)
    assert model.layers[0].grid_size == 3 and model.symbolic_fun[1].funs_name[0][0] == "sin"
    assert all(p.data_ptr() != q.data_ptr() for p, q in zip(model.parameters(), twin.parameters()))
    assert not torch.allclose(twin(X), model(X))


@pytest.mark.parametrize("width", [[2, 3, 1], [2, [1, 1], 1]])
def test_initialize_from_another_model_reproduces_it_on_a_multiple_grid(width) -> None:
    """pykan's refine-by-hand: the new spline space contains the old one -> same function."""
    parent = trained_like(width, symbolic=True)
    child = KAN(width, grid=6, seed=1, dtype=torch.float64)
    assert child.initialize_from_another_model(parent, X) is child
    torch.testing.assert_close(child(X), parent(X), atol=1e-12, rtol=0)
    assert child.layers[0].grid_size == 6 and child.symbolic_fun[0].funs_name[1][0] == "x^2"
    assert torch.equal(child.act_fun[0].mask, parent.act_fun[0].mask) and not child.fresh
    torch.testing.assert_close(child.layers[0].grid[:, ::2], parent.layers[0].grid)  # interpolated points


def test_splines_are_kept_on_the_grid_range_beyond_the_data() -> None:
    """The fit also uses points spanning the other model's grid range: data on a corner of the box
    still transfers every spline over the whole range (pykan zeroes the untouched coefficients)."""
    parent = trained_like([2, 3, 1])
    child = KAN([2, 3, 1], grid=6, seed=1, dtype=torch.float64)
    child.initialize_from_another_model(parent, X[(X < -0.5).all(1)])
    lo, hi = parent.layers[0].grid[:, 0], parent.layers[0].grid[:, -1]
    box = lo + (hi - lo) * torch.linspace(0, 1, 101, dtype=torch.float64)[:, None]
    torch.testing.assert_close(child.layers[0].spline_values(box), parent.layers[0].spline_values(box),
                               atol=1e-12, rtol=0)


def test_other_grid_sizes_orders_and_dtypes_fit_by_least_squares() -> None:
    parent = trained_like([2, 3, 1], grid=5)
    child = KAN([2, 3, 1], grid=12, k=2, seed=1)  # float32, another order, not a multiple
    child.initialize_from_another_model(parent, X)
    err = (child(X.float()).double() - parent(X)).abs().max()
    assert err < 1e-2 * parent(X).abs().max()
    parent.remember_data(X)  # x defaults to the other model's recorded data
    again = KAN([2, 3, 1], grid=12, k=2, seed=1).initialize_from_another_model(parent)
    torch.testing.assert_close(again(X.float()), child(X.float()))


def test_initialize_grid_takes_grids_and_unscaled_splines_only() -> None:
    """pykan's initialize_grid_from_another_model: the splines (coef), not the scales."""
    parent = trained_like([2, 3, 1])
    child = KAN([2, 3, 1], grid=6, seed=1, dtype=torch.float64)
    scale = child.layers[0].scale_base.clone()
    assert child.initialize_grid_from_another_model(parent, X) is child
    assert torch.equal(child.layers[0].scale_base, scale)
    inputs = parent.layer_inputs(X)
    for l in range(2):
        torch.testing.assert_close(child.layers[l].spline_values(inputs[l]), parent.layers[l].spline_values(inputs[l]),
                                   atol=1e-12, rtol=0)


def test_bad_pairs_are_refused_clearly() -> None:
    model = KAN([2, 3, 1], grid=3, seed=0)
    with pytest.raises(ValueError, match=r"same width.*\[2, 3, 1\].*\[2, 4, 1\]"):
        model.initialize_from_another_model(KAN([2, 4, 1], seed=0), X.float())
    with pytest.raises(TypeError, match="must be a KAN"):
        initialize_grid_from_another_model(model, torch.nn.Linear(2, 1), X.float())
    with pytest.raises(ValueError, match="no data"):
        model.initialize_from_another_model(KANNetwork([2, 3, 1], seed=0))
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        model.initialize_from_another_model(KAN([2, 3, 1], seed=0), torch.rand(5, 3))


def test_the_facade_binds_these_functions() -> None:
    from kanlab import transfer

    assert KAN.copy is transfer.copy_model
    assert KAN.initialize_from_another_model is transfer.initialize_from_another_model
    assert KAN.initialize_grid_from_another_model is transfer.initialize_grid_from_another_model
