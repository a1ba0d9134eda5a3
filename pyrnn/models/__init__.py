"""Models built only on `pyrnn.layers`, book-style: ``params``/``grads`` lists (the layers'
own arrays), ``forward``/``backward``, ``generate`` or ``predict`` where it applies,
``named_params()`` (stable names such as ``"encoder.lstm.Wx"``), ``save_params`` /
``load_params``. Every model takes ``dtype`` (float32 by default), ``seed`` (the init)
and ``xp`` (NumPy by default, or cupy to build it on the GPU).

- `Seq2seq`, `PeekySeq2seq`, `AttentionSeq2seq` (optionally bidirectional encoder)
- `Rnnlm`, `BetterRnnlm` (2 stacked LSTMs, dropout, weight tying)
- `BiLSTMClassifier`, `TransformerEncoderClassifier` (BERT-style, [CLS]/[SEP])
"""
from ._base import Init, Model
from .classifiers import BiLSTMClassifier, EncoderBlock, TransformerEncoderClassifier
from .rnnlm import BetterRnnlm, Rnnlm
from .seq2seq import AttentionSeq2seq, PeekySeq2seq, Seq2seq

__all__ = ["Model", "Init", "Seq2seq", "PeekySeq2seq", "AttentionSeq2seq", "Rnnlm", "BetterRnnlm",
           "BiLSTMClassifier", "TransformerEncoderClassifier", "EncoderBlock"]
