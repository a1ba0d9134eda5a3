"""Models built only on `pyrnn.layers`, book-style: ``params``/``grads`` lists (the layers'
own arrays), ``forward``/``backward``, ``generate`` or ``predict`` where it applies,
``named_params()`` (stable names such as ``"encoder.lstm.Wx"``), ``save_params`` /
``load_params``. Every model takes ``dtype`` (float32 by default), ``seed`` (the init)
and ``xp`` (NumPy by default, or cupy to build it on the GPU).

- `Seq2seq`, `PeekySeq2seq`, `AttentionSeq2seq` (optionally bidirectional encoder), `GNMTSeq2seq`
  (bidirectional first encoder layer, stacked residual LSTMs, attention; right-padded sources)
- `Rnnlm`, `BetterRnnlm` (2 stacked LSTMs, dropout, weight tying)
- `BiLSTMClassifier`, `TransformerEncoderClassifier` (BERT-style, [CLS]/[SEP])

The seq2seq models and the language models also ``decode``: greedy, sampling (temperature, top-k,
top-p) or beam search, N rows at once (`pyrnn.models.decoding`, returning a `Decoded`).
"""
from ._base import Init, Model
from .decoding import Decoded
from .classifiers import BiLSTMClassifier, EncoderBlock, TransformerEncoderClassifier
from .rnnlm import BetterRnnlm, Rnnlm
from .seq2seq import AttentionSeq2seq, PeekySeq2seq, Seq2seq
from .gnmt import GNMTSeq2seq, source_lengths

__all__ = ["Model", "Init", "Seq2seq", "PeekySeq2seq", "AttentionSeq2seq", "GNMTSeq2seq", "source_lengths", "Rnnlm", "BetterRnnlm",
           "BiLSTMClassifier", "TransformerEncoderClassifier", "EncoderBlock", "Decoded"]
