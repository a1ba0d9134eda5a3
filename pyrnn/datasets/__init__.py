"""Built-in tasks, all generated or shipped in the package and deterministic by seed.

- `load_date`: human-written dates -> ISO ``YYYY-MM-DD`` (the book's date.txt task)
- `load_addition`: ``"16+75"`` -> ``"91"`` (the book's addition.txt task), `reverse_input`
- `load_corpus`: a word/character id stream from any local text file or the built-in text
  (214k tokens of public-domain English), optionally capped at `max_vocab` words (+ `<unk>`)
- `load_sentiment`: template sentences with negation, labels 0/1, padded ids
"""
from .addition import load_addition, reverse_input
from .corpus import load_corpus, split_corpus, tokenize
from .dates import load_date
from .sentiment import load_sentiment
from .vocab import Vocab

__all__ = ["load_date", "load_addition", "reverse_input", "load_corpus", "split_corpus", "tokenize",
           "load_sentiment", "Vocab"]
