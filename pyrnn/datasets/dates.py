"""The date-format task: human-written dates -> ISO ``YYYY-MM-DD`` (the book's date.txt task,
generated here instead of shipped).

    (x_train, t_train), (x_test, t_test), vocab = load_date()
    vocab.decode(x_train[0])  # 'september 27, 1994           '
    vocab.decode(t_train[0])  # '_1994-09-27'

Sources are right-padded with spaces to 29 characters; targets are ``"_"`` (the
decoder's start symbol) + 10 characters. Dates are drawn uniformly from 1950-01-01 to
2049-12-31 (two-digit years: 50-99 -> 19xx, 00-49 -> 20xx) in one of many formats;
every source string occurs once, so no test example is also in train.
"""
from __future__ import annotations

import datetime as _dt
import string
from functools import lru_cache

import numpy as np

from .vocab import Vocab, encode_pairs

SRC_LEN = 29
TGT_LEN = 11
START = "_"
FIRST_DAY = _dt.date(1950, 1, 1)
LAST_DAY = _dt.date(2049, 12, 31)

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

VOCAB = Vocab(" " + START + string.digits + "-/.,'" + string.ascii_lowercase + string.ascii_uppercase,
              pad=" ")


def _ordinal(n):
    if 10 <= n % 100 <= 20:
        return f"{n}th"
    return f"{n}" + {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def _month(d):
    return MONTHS[d.month - 1]


def _mon(d):
    return MONTHS[d.month - 1][:3]


def _wday(d):
    return WEEKDAYS[d.weekday()]


# One function per format; names say what they write for 2008-06-03.
FORMATS = {
    "june 3, 2008": lambda d: f"{_month(d).lower()} {d.day}, {d.year}",
    "June 3, 2008": lambda d: f"{_month(d)} {d.day}, {d.year}",
    "JUNE 3, 2008": lambda d: f"{_month(d).upper()} {d.day}, {d.year}",
    "Jun 3, 2008": lambda d: f"{_mon(d)} {d.day}, {d.year}",
    "June 3rd, 2008": lambda d: f"{_month(d)} {_ordinal(d.day)}, {d.year}",
    "3 June 2008": lambda d: f"{d.day} {_month(d)} {d.year}",
    "3 june 2008": lambda d: f"{d.day} {_month(d).lower()} {d.year}",
    "03 Jun 2008": lambda d: f"{d.day:02d} {_mon(d)} {d.year}",
    "3 jun 08": lambda d: f"{d.day} {_mon(d).lower()} {d.year % 100:02d}",
    "6/3/08": lambda d: f"{d.month}/{d.day}/{d.year % 100:02d}",
    "06/03/2008": lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}",
    "3.6.2008": lambda d: f"{d.day}.{d.month}.{d.year}",
    "2008-06-03": lambda d: d.isoformat(),
    "2008/06/03": lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}",
    "20080603": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
    "Tuesday, June 3, 2008": lambda d: f"{_wday(d)}, {_month(d)} {d.day}, {d.year}",
    "tuesday, june 3, 2008": lambda d: f"{_wday(d).lower()}, {_month(d).lower()} {d.day}, {d.year}",
    "TUESDAY, JUNE 3, 2008": lambda d: f"{_wday(d).upper()}, {_month(d).upper()} {d.day}, {d.year}",
    "Tue, 3 Jun 2008": lambda d: f"{_wday(d)[:3]}, {d.day} {_mon(d)} {d.year}",
    "Jun 3 '08": lambda d: f"{_mon(d)} {d.day} '{d.year % 100:02d}",
}
_FORMAT_FUNCS = list(FORMATS.values())


def date_pairs(n=50000, seed=0):
    """n distinct (source, target) string pairs, e.g. ('8/26/70', '_1970-08-26'), in random order."""
    if n < 1:
        raise ValueError(f"n: expected a positive number of examples, got {n}")
    span = (LAST_DAY - FIRST_DAY).days + 1
    if n > span * len(_FORMAT_FUNCS) // 2:
        raise ValueError(f"n: at most {span * len(_FORMAT_FUNCS) // 2} distinct examples, got {n}")
    rng = np.random.default_rng(seed)
    seen, pairs = set(), []
    while len(pairs) < n:
        days = rng.integers(0, span, size=n)
        fmts = rng.integers(0, len(_FORMAT_FUNCS), size=n)
        for k, f in zip(days.tolist(), fmts.tolist()):
            d = FIRST_DAY + _dt.timedelta(days=k)
            src = _FORMAT_FUNCS[f](d)
            if src in seen:
                continue
            seen.add(src)
            pairs.append((src, START + d.isoformat()))
            if len(pairs) == n:
                break
    return pairs


@lru_cache(maxsize=4)
def _load(n, test_size, seed):
    pairs = date_pairs(n, seed)
    x, t = encode_pairs(pairs, VOCAB, SRC_LEN, TGT_LEN)
    x.flags.writeable = t.flags.writeable = False
    return x, t


def load_date(n=50000, test_size=5000, seed=0):
    """-> (x_train, t_train), (x_test, t_test), vocab.

    n examples (default 50,000), the last ``test_size`` (default 5,000) held out; x (n, 29)
    and t (n, 11) int32 ids of one character vocabulary (``vocab.char_to_id``,
    ``vocab.id_to_char``; ``vocab.start_id`` is "_"). Deterministic by ``seed``.
    """
    if not 0 <= test_size < n:
        raise ValueError(f"test_size: expected 0 <= test_size < n={n}, got {test_size}")
    x, t = _load(int(n), int(test_size), int(seed))
    k = n - test_size
    return (x[:k].copy(), t[:k].copy()), (x[k:].copy(), t[k:].copy()), VOCAB


def get_vocab():
    """The date task's character vocabulary (fixed: the same for every seed and size)."""
    return VOCAB


VOCAB.start_id = VOCAB.token_to_id[START]
