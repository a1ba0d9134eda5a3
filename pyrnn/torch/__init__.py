"""pyrnn's kernels inside PyTorch: drop-ins for torch.nn.LSTM / GRU / RNN and for
torch.nn.functional.scaled_dot_product_attention, whose forward and backward run on pyrnn's ops
(`pyrnn.ops`) through torch.autograd.Function, sharing memory with the tensors (NumPy views of CPU
tensors: the cpp backend; DLPack to CuPy for CUDA tensors: the cuda backend, on torch's current
stream).

    import pyrnn.torch
    lstm = pyrnn.torch.LSTM(128, 256, num_layers=2, batch_first=True)   # torch.nn.LSTM's arguments
    lstm.load_state_dict(torch_lstm.state_dict())                         # and its parameter names
    out, (h_n, c_n) = lstm(x)

An optional extra: `import pyrnn` never imports torch; this package needs `pip install 'pyrnn[torch]'`.
Multi-process training on torch.distributed: `python -m pyrnn.torch.train_ddp --help`.
"""
try:
    import torch as _torch  # noqa: F401  (the top-level torch: absolute import)
except ImportError as e:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError("pyrnn.torch needs PyTorch, which is not installed: pip install 'pyrnn[torch]'") from e

from .attention import scaled_dot_product_attention  # noqa: E402
from .rnn import GRU, LSTM, RNN  # noqa: E402

__all__ = ["LSTM", "GRU", "RNN", "scaled_dot_product_attention"]
