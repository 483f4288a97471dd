"""kanlab.edges: pykan's act_fun/symbolic_fun layer views, get_act, get_range and the
activation lists computed from the recorded data."""
import numpy as np
import pytest
import torch

from kanlab import KAN, create_dataset

X = torch.rand(128, 2, generator=torch.Generator().manual_seed(0)) * 2 - 1


def model_and_data() -> KAN:
    model = KAN(width=[2, 3, 1], grid=5, k=3, seed=0, noise_scale=1.0)
    model.update_grid_from_samples(X)
    return model


def test_act_fun_layers_show_pykans_attributes_in_its_layouts() -> None:
    """pykan's KANLayer: in_dim, out_dim, grid (extended knots), coef (in, out, G + k), scale_base,
    scale_sp, mask (in, out); views of kanlab's (out, in) tensors, so in-place writes reach them."""
    model = model_and_data()
    assert [(f.in_dim, f.out_dim) for f in (model.act_fun[0], model.act_fun[1])] == [(2, 3), (3, 1)]
    layer, view = model.layers[0], model.act_fun[0]
    assert (view.num, view.k) == (5, 3) and view.grid is layer.knots and view.grid.shape == (2, 5 + 2 * 3 + 1)
    assert view.coef.shape == (2, 3, 8) and torch.equal(view.coef[1, 2], layer.coef[2, 1])
    for name, own in (("scale_base", "scale_base"), ("scale_sp", "scale_spline"), ("mask", "mask")):
        assert torch.equal(getattr(view, name), getattr(layer, own).T)
    before = model(X)
    view.coef.data *= 2  # pykan's copy() docstring
    view.mask.data[1, 0] = 0.0  # edge 1 -> 0
    assert layer.mask[0, 1] == 0 and not torch.allclose(model(X), before)
    assert model.act_fun[0][0][:, 1:2](X[:, 1:2]).abs().max() == 0  # README's indexing still works


def test_act_fun_layer_is_callable_as_pykans_kanlayer() -> None:
    model = model_and_data()
    y, preacts, postacts, postspline = model.act_fun[0](X)
    assert y.shape == (128, 3) and preacts.shape == postacts.shape == postspline.shape == (128, 3, 2)
    torch.testing.assert_close(y, model.layers[0](X))
    torch.testing.assert_close(preacts[:, 2, 1], X[:, 1], atol=0, rtol=0)
    torch.testing.assert_close(postacts[:, 2, 1:2], model.act_fun[0][2][:, 1:2](X[:, 1:2]))
    with pytest.raises(ValueError, match=r"act_fun\[0\] takes x of shape \(batch, 2\)"):
        model.act_fun[0](torch.zeros(4, 3))


def test_symbolic_fun_shows_pykans_names_and_mask() -> None:
    model = model_and_data()
    model.fix_symbolic(0, 1, 2, "sin", fit_params_bool=False, verbose=False)
    sym = model.symbolic_fun[0]
    assert (sym.in_dim, sym.out_dim) == (2, 3)
    assert sym.funs_name == [["0", "0"], ["0", "0"], ["0", "sin"]]  # out x in, '0' for none
    assert sym.mask.shape == (3, 2) and sym.mask[2, 1] == 1 and sym.mask.sum() == 1
    assert sym.affine.shape == (3, 2, 4)
    sym.funs_name[0][0] = "exp"  # a copy: edit edges with fix_symbolic
    assert model.symbolic_fun[0].funs_name[0][0] == "0"
    with pytest.raises(IndexError, match="layer 2 out of range"):
        model.symbolic_fun[2]


def test_get_act_records_the_data_that_get_range_get_fun_and_the_lists_read() -> None:
    model = model_and_data()
    model(X)
    assert model.cache_data is None  # the forward records nothing
    with pytest.raises(ValueError, match=r"get_act"):
        model.get_range(0, 0, 0)
    with pytest.raises(ValueError, match=r"get_act"):
        model.spline_postacts[0]
    assert model.get_act(X) is None and model.cache_data is X
    inputs = model.layer_inputs(X)
    x_min, x_max, y_min, y_max = model.get_range(1, 2, 0, verbose=False)
    assert all(isinstance(v, np.float64) for v in (x_min, x_max, y_min, y_max))
    assert (x_min, x_max) == (float(inputs[1][:, 2].min()), float(inputs[1][:, 2].max()))
    edge = model.act_fun[1][0][:, 2:3](inputs[1][:, 2:3]).detach()
    assert np.isclose(y_min, float(edge.min())) and np.isclose(y_max, float(edge.max()))
    xs, _ = model.get_fun(1, 2, 0)
    assert (float(xs[0]), float(xs[-1])) == pytest.approx((x_min, x_max))
    # pykan's lists, computed on access from the recorded data with the current parameters
    assert len(model.acts) == 3 and len(model.spline_postacts) == 2
    torch.testing.assert_close(model.acts[-1], model(X).detach())
    torch.testing.assert_close(model.spline_preacts[1][:, 0, 2], inputs[1][:, 2])
    torch.testing.assert_close(model.spline_postacts[1][:, 0, 2:3], edge)
    with torch.no_grad():
        model.layers[1].coef.mul_(3)
    torch.testing.assert_close(model.spline_postacts[1][:, 0, 2:3], model.act_fun[1][0][:, 2:3](inputs[1][:, 2:3]))
    with pytest.raises(IndexError, match="layer 3 out of range"):
        model.acts[3]


def test_get_act_inputs_and_labels() -> None:
    model = model_and_data()
    ds = create_dataset(lambda x: x[:, [0]], n_var=2, train_num=16, test_num=4)
    model.get_act(ds)
    assert model.cache_data is ds["train_input"] and model.cache_target is ds["train_label"]
    model.get_act()  # keeps the recorded data and labels
    assert model.cache_target is ds["train_label"]
    model.get_act(X)  # other rows: the labels no longer apply
    assert model.cache_data is X and model.cache_target is None
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        model.get_act(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="train_input"):
        model.get_act({"test_input": X})
    with pytest.raises(TypeError, match="torch.Tensor"):
        model.get_act(X.numpy())
    with pytest.raises(ValueError, match="needs data"):
        KAN([2, 1], seed=0).get_act()


def test_get_range_prints_like_pykan(capsys) -> None:
    model = model_and_data()
    model.get_act(X)
    x_min, x_max, y_min, y_max = model.get_range(0, 0, 0)
    out = capsys.readouterr().out.splitlines()
    assert out == [f"x range: [{x_min:.2f} , {x_max:.2f} ]", f"y range: [{y_min:.2f} , {y_max:.2f} ]"]
    with pytest.raises(IndexError, match="output node j=5"):
        model.get_range(0, 0, 5)


def test_the_facade_binds_these_functions() -> None:
    from kanlab import edges

    assert KAN.get_act is edges.get_act and KAN.get_range is edges.get_range
    for name in ("act_fun", "symbolic_fun", "acts", "spline_preacts", "spline_postacts"):
        assert isinstance(getattr(KAN, name), property)
