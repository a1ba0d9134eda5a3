"""Multi-process training (pyrnn/torch/train_ddp.py): two gloo processes under
DistributedDataParallel, each running half of every batch through pyrnn.torch.LSTM, end with the
parameters of one process that ran the whole batches. Skipped only where torch is not installed.

Tolerance: float64, max |2 processes - 1 process| <= 1e-12 * max(1, max |parameter|), per tensor.
The runs differ only in summation order (each process's gradient over its half, then gloo's
average of the two, against one sum over the whole batch): about 1e-16 relative per gradient,
and after 5 Adam steps the parameters differed by 1.1e-16 (relative) when this was written. A
lost, repeated or un-averaged shard moves them by about the learning rate (3e-3).
"""
import argparse

import pytest

torch = pytest.importorskip("torch")
from pyrnn.datasets.sentiment import get_vocab  # noqa: E402
from pyrnn.torch import train_ddp  # noqa: E402

TOL = 1e-12


def test_two_gloo_processes_equal_one_process_on_the_whole_batch(tmp_path):
    args = train_ddp._parser().parse_args(["--steps", "5", "--batch", "16", "--examples", "160", "--hidden", "8",
                                           "--dtype", "float64", "--save", str(tmp_path / "ddp.pt")])
    train_ddp.spawn(args, 2)
    two = torch.load(tmp_path / "ddp.pt")
    one, _ = train_ddp.train(argparse.Namespace(**{**vars(args), "save": None}), quiet=True)
    one = one.state_dict()
    assert two.keys() == one.keys()
    for name, p in one.items():
        assert p.dtype == torch.float64 and two[name].shape == p.shape
        err = (two[name] - p).abs().max().item() / max(1.0, p.abs().max().item())
        assert err <= TOL, f"{name}: 2 processes vs 1 differ by {err:.3g} (relative) > {TOL:g}"
    torch.manual_seed(args.seed)  # the initial model, as train() builds it: training moved it
    init = train_ddp.SentimentLSTM(len(get_vocab()), hidden=8).double().state_dict()
    assert max((one[n] - p).abs().max().item() for n, p in init.items()) > 1e-3
