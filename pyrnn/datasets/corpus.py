"""Text corpora for language models: any local text file, word- or character-level,
as one long stream of ids (the book's ``ptb.load_data`` shape), plus a default corpus
shipped inside the package (``data/default_corpus.txt.gz``): the New Testament of the
World English Bible (public domain), about 214,000 word and punctuation tokens, one
paragraph a line; ``docs/make_default_corpus.py`` rebuilds it from Debian's
``sword-text-web`` package.

    corpus, word_to_id, id_to_word = load_corpus()                 # the built-in text
    corpus, word_to_id, id_to_word = load_corpus(max_vocab=3000)   # rarer words -> <unk>
    corpus, char_to_id, id_to_char = load_corpus("my.txt", level="char")
    train, val = split_corpus(corpus, 0.1)
"""
from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import numpy as np

DEFAULT_CORPUS = Path(__file__).with_name("data") / "default_corpus.txt.gz"
EOS = "<eos>"
UNK = "<unk>"
# words (with one apostrophe suffix: don't, Paul's), PTB's literal <unk>, or any other
# single non-space character (punctuation)
_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|<unk>|[^\sA-Za-z0-9]")


def _read(path, encoding="utf-8") -> str:
    """The text of `path` (``.gz``: through gzip), newlines normalised to "\\n" like text mode.
    A file that is not text is a ValueError naming it and saying why (binary, not `encoding`, a
    damaged gzip stream, empty); OSError (missing, unreadable) names it too."""
    path = Path(path)
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise ValueError(f"{path}: a truncated gzip file (the stream ends before its end marker)") from None
        except (OSError, zlib.error) as e:  # gzip.BadGzipFile (not gzip, CRC) is an OSError
            raise ValueError(f"{path}: not a readable gzip file ({e})") from None
    if not data:
        raise ValueError(f"{path}: an empty file{' (once decompressed)' if path.suffix == '.gz' else ''}: "
                         f"no text to read")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not {encoding} text (byte 0x{data[e.start]:02x} at offset {e.start}: {e.reason}); "
                         f"a binary file, or text in another encoding") from None
    nul = text.find("\0")  # valid UTF-8, but no text has NUL characters
    if nul >= 0:
        raise ValueError(f"{path}: a binary file, not text (a NUL character at offset {nul})")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def default_corpus_text() -> str:
    """The built-in corpus as plain text (one paragraph a line)."""
    return _read(DEFAULT_CORPUS)


def tokenize(text: str, level: str = "word", lower: bool = True) -> list:
    """Words and punctuation marks, one ``<eos>`` per non-empty line (level="word"),
    or every character including newlines (level="char")."""
    if level not in ("word", "char"):
        raise ValueError(f"level: expected 'word' or 'char', got {level!r}")
    if lower:
        text = text.lower()
    if level == "char":
        return list(text)
    tokens = []
    for line in text.splitlines():
        words = _WORD.findall(line)
        if words:
            tokens += words + [EOS]
    return tokens


def build_vocab(tokens):
    """Ids in order of first appearance (deterministic): -> word_to_id, id_to_word."""
    word_to_id = {}
    for t in tokens:
        if t not in word_to_id:
            word_to_id[t] = len(word_to_id)
    return word_to_id, {i: w for w, i in word_to_id.items()}


def limit_vocab(tokens, max_vocab, unk=UNK):
    """At most ``max_vocab`` distinct tokens: ``unk``, ``<eos>`` (when present) and the most
    frequent others (ties: first appearance first); every other token becomes ``unk``
    (PTB's 10,000-word convention)."""
    if int(max_vocab) < 2:
        raise ValueError(f"max_vocab: expected an int >= 2, got {max_vocab!r}")
    counts, first = {}, {}
    for i, t in enumerate(tokens):
        counts[t] = counts.get(t, 0) + 1
        first.setdefault(t, i)
    if len(counts) <= max_vocab:
        return list(tokens)
    always = {unk} | ({EOS} & counts.keys())
    ranked = sorted((t for t in counts if t not in always), key=lambda t: (-counts[t], first[t]))
    keep = always | set(ranked[:int(max_vocab) - len(always)])
    return [t if t in keep else unk for t in tokens]


def load_corpus(path=None, level="word", lower=True, encoding="utf-8", max_vocab=None):
    """-> corpus (int32 ids, one long stream), word_to_id, id_to_word.

    path: a local text file (``.gz`` is read through gzip); None reads the built-in
    default corpus. ``level`` "word" splits words and punctuation (an ``<eos>`` ends each
    non-empty line; a literal ``<unk>`` in the text stays one token); "char" keeps every
    character. Lower-cased unless ``lower=False``. ``max_vocab``: keep the most frequent
    ``max_vocab - 1`` tokens and map the rest to ``<unk>`` (see `limit_vocab`).
    """
    text = default_corpus_text() if path is None else _read(path, encoding)
    tokens = tokenize(text, level, lower)
    if not tokens:
        raise ValueError(f"{path or DEFAULT_CORPUS}: no tokens in the text")
    if max_vocab is not None:
        tokens = limit_vocab(tokens, max_vocab)
    word_to_id, id_to_word = build_vocab(tokens)
    corpus = np.fromiter((word_to_id[t] for t in tokens), dtype=np.int32, count=len(tokens))
    return corpus, word_to_id, id_to_word


def split_corpus(corpus, val_fraction=0.1, test_fraction=0.0):
    """Contiguous split of one stream: -> (train, val) or, with test_fraction, (train, val, test)."""
    n = len(corpus)
    n_val, n_test = int(round(n * val_fraction)), int(round(n * test_fraction))
    if n_val + n_test >= n:
        raise ValueError(f"val_fraction + test_fraction leave no training data ({n} tokens)")
    k = n - n_val - n_test
    parts = (corpus[:k], corpus[k:k + n_val])
    return parts + ((corpus[k + n_val:],) if test_fraction else ())
