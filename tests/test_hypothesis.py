"""Hypothesis tests and pykan's ``tree`` (kanlab.hypothesis): separability and symmetry of known
functions, of KANs built to compute them exactly, and agreement with pykan's kan/hypothesis.py."""
import matplotlib.pyplot as plt  # Agg: tests/conftest.py sets MPLBACKEND
import pytest
import torch

from kanlab import KAN
from kanlab import hypothesis as H


def _x(n: int, rows: int = 100, seed: int = 0) -> torch.Tensor:
    return torch.rand(rows, n, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def x0_plus_x1_x2(x):
    return x[:, [0]] + x[:, [1]] * x[:, [2]]


def square_times_sum(x):
    return x[:, [0]] ** 2 * (x[:, [1]] + x[:, [2]])


def nested_squares(x):
    """pykan's get_molecule example: pairs, then pairs of pairs, of squared sums."""
    pair = [(x[:, [i]] ** 2 + x[:, [i + 1]] ** 2) ** 2 for i in range(0, 8, 2)]
    return (pair[0] + pair[1]) ** 2 + (pair[2] + pair[3]) ** 2


FUNCTIONS = {  # name: (f, number of inputs)
    "x0+x1*x2": (x0_plus_x1_x2, 3),
    "x0*x1": (lambda x: x[:, [0]] * x[:, [1]], 2),
    "x0^2*(x1+x2)": (square_times_sum, 3),
    "x0^2*(x1^2+x2^2)^2": (lambda x: x[:, [0]] ** 2 * (x[:, [1]] ** 2 + x[:, [2]] ** 2) ** 2, 3),
    "x0*x1+x2*x3": (lambda x: x[:, [0]] * x[:, [1]] + x[:, [2]] * x[:, [3]], 4),
    "sin(x0)*x1+x2": (lambda x: torch.sin(x[:, [0]]) * x[:, [1]] + x[:, [2]], 3),
    "nested squares": (nested_squares, 8),
}


def test_pykans_documented_examples() -> None:
    """The results pykan's docstrings state for its tests, on the same functions."""
    x = _x(3)
    assert H.is_symmetric(square_times_sum, x, [1, 2]) and not H.is_symmetric(square_times_sum, x, [0, 2])
    assert H.is_separable(square_times_sum, x, [[0], [1, 2]], mode="mul")
    assert not H.is_separable(square_times_sum, x, [[0], [1, 2]], mode="add")
    general = FUNCTIONS["x0^2*(x1^2+x2^2)^2"][0]
    assert H.is_generally_separable(general, x, [[0], [1, 2]])
    assert not H.is_generally_separable(general, x, [[1], [0, 2]])
    assert H.get_molecule(nested_squares, _x(8)) == [
        [[0], [1], [2], [3], [4], [5], [6], [7]],
        [[0, 1], [2, 3], [4, 5], [6, 7]],
        [[0, 1, 2, 3], [4, 5, 6, 7]],
        [[0, 1, 2, 3, 4, 5, 6, 7]],
    ]


def test_sum_and_product_are_found() -> None:
    """x0 + x1*x2: {1, 2} merge first (x1*x2 is generally separable), then '+' joins {0} and {1, 2};
    x0*x1 is one product."""
    x = _x(3)
    levels = H.get_molecule(x0_plus_x1_x2, x)
    assert levels == [[[0], [1], [2]], [[0], [1, 2]], [[0, 1, 2]]]
    assert H.get_tree_node(x0_plus_x1_x2, x, levels, sep_th=0.1, skip_test=False) == \
        ([[1, 2], [2]], [["Id", "GS"], ["Add"]])
    assert H.get_tree_node(x0_plus_x1_x2, x, levels, skip_test=True)[1] == [["Id", ""], [""]]
    product = FUNCTIONS["x0*x1"][0]
    levels = H.get_molecule(product, x[:, :2])
    assert levels == [[[0], [1]], [[0, 1]]]
    assert H.get_tree_node(product, x[:, :2], levels, sep_th=0.1, skip_test=False) == ([[2]], [["Mul"]])


def test_derivatives_and_scores_are_the_exact_ones() -> None:
    """x0 + x1*x2: gradient (1, x2, x1), Hessian with one cross term 1 between x1 and x2; its
    scaled median is std1 * std2; the direction of (df/dx1, df/dx2) does not move with x0."""
    x = _x(3).double()
    g = H.input_gradient(x0_plus_x1_x2, x)
    assert torch.allclose(g, torch.stack([torch.ones(100, dtype=x.dtype), x[:, 2], x[:, 1]], 1))
    h = H.input_hessian(x0_plus_x1_x2, x)
    expected = torch.zeros(3, 3, dtype=x.dtype)
    expected[1, 2] = expected[2, 1] = 1
    assert torch.equal(h, expected.expand(100, 3, 3))
    std = x.std(0)
    scores = H.separability_scores(x0_plus_x1_x2, x)
    assert torch.allclose(scores[1, 2], std[1] * std[2]) and float(scores[0, 1]) == 0 == float(scores[0, 2])
    assert float(H.dependence(x0_plus_x1_x2, x, [1, 2]).max()) == 0
    assert float(H.dependence(x0_plus_x1_x2, x, [0, 1]).max()) > 0.1


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_same_tree_as_pykan(name) -> None:
    """kanlab's groups, arities, properties, dependence scores and Hessians equal pykan's."""
    pykan_hypothesis = pytest.importorskip("kan.hypothesis")
    f, n = FUNCTIONS[name]
    x = _x(n)
    theirs = pykan_hypothesis.get_molecule(f, x, verbose=False)
    assert H.get_molecule(f, x) == theirs
    assert H.get_tree_node(f, x, theirs, sep_th=0.1, skip_test=False) == \
        pykan_hypothesis.get_tree_node(f, x, theirs, sep_th=0.1, skip_test=False)
    for group in ([0], [1], [0, 1]) if n > 2 else ([0], [1]):  # proper subsets of the inputs
        assert torch.allclose(H.dependence(f, x, group), pykan_hypothesis.get_dependence(f, x, group), atol=1e-6)
    assert torch.allclose(H.input_hessian(f, x), pykan_hypothesis.batch_hessian(f, x), atol=1e-5)


def _switch_off_all(model: KAN) -> KAN:
    for l in range(model.depth):
        for i in range(model.width[l]):
            for j in range(model.n_sub(l + 1)):
                model.remove_edge(l, i, j)
    return model


def x0_plus_x1_x2_kan() -> KAN:
    """KAN([3, [1, 1], 1]) computing x0 + x1*x2 exactly: identity edges into the sum node and the
    product's two factors, and from both nodes to the output."""
    model = _switch_off_all(KAN(width=[3, [1, 1], 1], grid=3, seed=0))
    for l, i, j in ((0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 0), (1, 1, 0)):
        model.fix_symbolic(l, i, j, "x", fit_params_bool=False, verbose=False)
    return model


def test_tree_of_a_kan_computing_x0_plus_x1_x2(tmp_path) -> None:
    model = x0_plus_x1_x2_kan()
    x = _x(3)
    assert torch.equal(model(x), x0_plus_x1_x2(x))
    levels = H.get_molecule(model, x)
    assert levels == [[[0], [1], [2]], [[0], [1, 2]], [[0, 1, 2]]]
    assert H.get_tree_node(model, x, levels, sep_th=0.1, skip_test=False)[1] == [["Id", "GS"], ["Add"]]
    model.get_act(x)  # tree's default data
    fig = model.tree()
    assert plt.gcf() is fig
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert texts.count("+") == 1 and {"$x_{1}$", "$x_{2}$", "$x_{3}$"} <= set(texts)
    fig.savefig(tmp_path / "tree.png")
    assert (tmp_path / "tree.png").stat().st_size > 5_000
    box = model.tree(x, in_var=["a", "b", "c"], style="box")
    assert {"a", "b", "c", "Id", "GS", "Add"} <= {t.get_text() for ax in box.axes for t in ax.texts}
    plt.close("all")


def test_spline_kans_built_separable_are_found_so() -> None:
    """Derivatives through spline edges: a one-layer KAN is a sum of edge functions (cross
    Hessian exactly 0); the product node of two spline factors is multiplicatively separable;
    a hidden layer mixes its inputs."""
    x = _x(3)
    additive = KAN([3, 1], grid=5, seed=0)
    assert H.is_separable(additive, x, [[0], [1], [2]], mode="add", threshold=1e-12)
    assert float(H.separability_scores(additive, x).fill_diagonal_(0).abs().max()) == 0
    product = _switch_off_all(KAN(width=[2, [0, 1], 1], grid=5, seed=0))
    with torch.no_grad():  # factor j reads input j only, through its spline
        product.layers[0].mask.copy_(torch.eye(2))
        product.layers[0].coef.normal_(generator=torch.Generator().manual_seed(1))
    product.fix_symbolic(1, 0, 0, "x", fit_params_bool=False, verbose=False)
    assert H.is_separable(product, x[:, :2], [[0], [1]], mode="mul", threshold=1e-6)
    assert not H.is_separable(product, x[:, :2], [[0], [1]], mode="add")
    mixed = KAN([2, 3, 1], grid=5, seed=0)
    assert float(H.separability_scores(mixed, x[:, :2])[0, 1]) > 0


def test_tree_labels_a_pruned_model_by_its_original_inputs() -> None:
    small = KAN([3, 1], grid=5, seed=0).prune_input(active_inputs=[0, 2])
    x = _x(2)
    labels = {t.get_text() for ax in small.tree(x).axes for t in ax.texts}
    assert {"$x_{1}$", "$x_{3}$"} <= labels and "$x_{2}$" not in labels
    labels = {t.get_text() for ax in small.tree(x, in_var=["a", "b", "c"]).axes for t in ax.texts}
    assert {"a", "c"} <= labels and "b" not in labels
    plt.close("all")


def test_verbose_prints_each_level(capsys) -> None:
    H.get_molecule(x0_plus_x1_x2, _x(3), verbose=True)
    assert capsys.readouterr().out.splitlines() == ["level 1: [[0], [1, 2]]", "level 2: [[0, 1, 2]]"]


def test_errors_name_the_argument() -> None:
    x = _x(3)
    with pytest.raises(ValueError, match="style must be one of"):
        H.plot_tree(x0_plus_x1_x2, x, style="circle")
    with pytest.raises(ValueError, match="mode must be one of"):
        H.is_separable(x0_plus_x1_x2, x, [[0], [1]], mode="sub")
    with pytest.raises(ValueError, match="groups must be disjoint"):
        H.is_separable(x0_plus_x1_x2, x, [[0], [0, 1]])
    with pytest.raises(ValueError, match="groups must be disjoint"):
        H.is_symmetric(x0_plus_x1_x2, x, [3])
    with pytest.raises(ValueError, match="at least 2 rows"):
        H.input_hessian(x0_plus_x1_x2, x[:1])
    with pytest.raises(ValueError, match="sym_th must be"):
        H.get_molecule(x0_plus_x1_x2, x, sym_th=-1)
    with pytest.raises(ValueError, match="in_var needs 3 names"):
        H.plot_tree(x0_plus_x1_x2, x, in_var=["a"], skip_sep_test=True)
    with pytest.raises(ValueError, match="no data"):
        KAN([3, 1]).tree()
