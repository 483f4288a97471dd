"""Data-parallel training: DDP with default settings, and grid updates that keep ranks identical.

Two gloo processes on CPU. Each rank trains on its own shard (of different sizes), updates the
grids from that shard and refines; all ranks must end with identical grids, coefficients and
outputs, and the distributed grid update must equal a single-process update on all the data.
"""
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel as DDP

from kanlab import KAN

WORLD = 2


def data() -> tuple:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(900, 2, generator=gen) ** 3  # heavy-tailed
    return x, torch.sin(x[:, :1]) * torch.exp(-x[:, 1:] ** 2)


def shard(rank: int) -> slice:
    return slice(0, 300) if rank == 0 else slice(300, 900)


def train(module: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(module(x), y).backward()
        opt.step()


def worker(rank: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        x, y = data()
        xs, ys = x[shard(rank)], y[shard(rank)]
        from kanlab.distributed import mean_over_ranks

        assert mean_over_ranks(float(rank)) == 0.5  # fit's start choice is the same on every rank
        model = KAN([2, 3, 1], grid=5, seed=0)
        train(DDP(model), xs, ys, 3)  # default settings: crashed on step 2 (unused parameters)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        model.update_grid_from_samples(xs)
        updated = {k: v.clone() for k, v in model.state_dict().items()}
        train(DDP(model), xs, ys, 2)
        with pytest.warns(RuntimeWarning, match="DistributedDataParallel"):
            model.refine(10, x=xs)
        train(DDP(model), xs, ys, 2)  # a new wrapper after the shapes changed
        torch.save({"before": before, "updated": updated, "final": model.state_dict(),
                    "out": model(x).detach()}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_ddp_default_settings_and_grid_updates_keep_ranks_identical(tmp_path) -> None:
    mp.start_processes(worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, start_method="spawn")
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    for key in ("updated", "final"):
        for name, value in ranks[0][key].items():
            assert torch.equal(value, ranks[1][key][name]), (key, name)
    assert torch.equal(ranks[0]["out"], ranks[1]["out"])
    assert ranks[0]["final"]["layers.0.knots"].shape[1] == 10 + 2 * 3 + 1
    # the distributed update is the update on all the data, in one process
    x, _ = data()
    single = KAN([2, 3, 1], grid=5, seed=0)
    single.load_state_dict(ranks[0]["before"])
    single.update_grid_from_samples(x)
    for name, value in single.state_dict().items():
        torch.testing.assert_close(value, ranks[0]["updated"][name], rtol=1e-6, atol=1e-7)


def fit_data() -> dict:
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(301, 2, generator=gen, dtype=torch.float64) * 2 - 1  # 151 + 150 rows per rank
    y = torch.sin(torch.pi * x[:, :1]) * torch.exp(-x[:, 1:] ** 2)
    return {"train_input": x, "train_label": y, "test_input": x[:50], "test_label": y[:50]}


def fit_worker(rank: int, init_file: str, out: str) -> None:
    """pykan's fit under torchrun: every rank passes the same data set; fit shards it, averages
    gradients and losses over the ranks, keeps the grids identical, and only rank 0 writes."""
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        torch.manual_seed(rank)  # different initial weights per rank: fit starts from rank 0's
        model = KAN([2, 3, 1], grid=5, seed=rank, auto_save=True, ckpt_path=os.path.join(out, f"ckpt{rank}"))
        model.double()
        plain = model.fit(fit_data(), steps=4, starts=False, progress=False, save_fig=True, save_fig_freq=2,
                          img_folder=os.path.join(out, f"frames{rank}"))
        sparse = model.fit(fit_data(), steps=3, lamb=1e-3, progress=False)
        torch.save({"state": model.state_dict(), "plain": plain, "sparse": sparse},
                   os.path.join(out, f"fit{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_fit_under_torchrun_equals_one_process_on_all_the_data(tmp_path) -> None:
    mp.start_processes(fit_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, start_method="spawn")
    ranks = [torch.load(tmp_path / f"fit{r}.pt", weights_only=False) for r in range(WORLD)]
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), name
    for key in ("plain", "sparse"):
        assert ranks[0][key] == ranks[1][key]  # the reported losses are the ranks' mean, the same on both
    assert os.listdir(tmp_path / "frames0") and not (tmp_path / "frames1").exists()  # only rank 0 writes
    assert (tmp_path / "ckpt0" / "history.txt").exists() and not (tmp_path / "ckpt1").exists()
    # the same steps in one process on all the rows, from rank 0's initial model
    single = KAN([2, 3, 1], grid=5, seed=0).double()
    plain = single.fit(fit_data(), steps=4, starts=False, progress=False)
    for a, b in zip(plain["train_loss"], ranks[0]["plain"]["train_loss"]):
        assert abs(a - b) <= 1e-6 * abs(a)
    torch.testing.assert_close(single.layers[0].knots, ranks[0]["state"]["layers.0.knots"])
