"""Rebuild pyrnn/datasets/data/default_corpus.txt.gz, pyrnn's built-in language-model corpus.

Source: the New Testament of the World English Bible, a modern-English translation that its
makers dedicated to the public domain ("The World English Bible is in the Public Domain. That
means that it is not copyrighted."), as Debian ships it in the SWORD module of the package
``sword-text-web`` (engWEB2015eb, version 426.0; zText driver, OSIS markup). This script keeps
the running text and the book titles, drops footnotes, headings' markup, chapter and verse
numbers and the Strong's-number tags, turns curly quotes into ASCII ones, and writes one
paragraph a line. The text is otherwise unchanged; since it is an extract with markup
removed, pyrnn calls it "text from the World English Bible", not the World English Bible.

    apt-get download sword-text-web && dpkg-deb -x sword-text-web_*.deb web
    python docs/make_default_corpus.py web/usr/share/sword/modules/texts/ztext/engWEB2015eb

Writes the gzip with mtime 0, so the same input gives the same bytes.
"""
import gzip
import re
import struct
import sys
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "pyrnn" / "datasets" / "data" / "default_corpus.txt.gz"
NOTE = re.compile(r"<note\b.*?</note>", re.S)
TITLE = re.compile(r"<title\b[^>]*>(.*?)</title>", re.S)
PARAGRAPH = re.compile(r'<div sID="[^"]*" type="x-p"/>')  # a paragraph starts here
TAG = re.compile(r"<[^>]+>")
ASCII_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


def verses(module_dir, testament="nt"):
    """SWORD zText: .bzs = (offset, size, unpacked size) uint32 per zlib block (one block a
    book here), .bzv = (block, offset, size) uint32/uint32/uint16 per verse slot."""
    d = Path(module_dir)
    bzs, bzz, bzv = ((d / f"{testament}.{ext}").read_bytes() for ext in ("bzs", "bzz", "bzv"))
    blocks = []
    for i in range(len(bzs) // 12):
        off, size, _ = struct.unpack_from("<III", bzs, i * 12)
        blocks.append(zlib.decompress(bzz[off:off + size]))
    for i in range(len(bzv) // 10):
        b, off, size = struct.unpack_from("<IIH", bzv, i * 10)
        if size:
            yield b, blocks[b][off:off + size].decode("utf-8")


def plain(markup):
    text = TAG.sub("", markup).translate(ASCII_QUOTES)
    return re.sub(r"\s+", " ", text).strip()


def paragraphs(module_dir):
    out, cur, book = [], [], None

    def flush():
        if cur:
            out.append(" ".join(cur))
            cur.clear()
    for b, v in verses(module_dir):
        if b != book:  # a new book starts a new paragraph
            book = b
            flush()
        v = NOTE.sub(" ", v)
        titles = [plain(t) for t in TITLE.findall(v)]
        if titles:
            flush()
            out.append(" ".join(titles))
            v = TITLE.sub(" ", v)
        for i, part in enumerate(PARAGRAPH.split(v)):
            if i:
                flush()
            if plain(part):
                cur.append(plain(part))
    flush()
    return out


def main(module_dir):
    text = "\n".join(paragraphs(module_dir)) + "\n"
    with open(OUT, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as f:
        f.write(text.encode("utf-8"))
    print(f"{OUT}: {len(text.splitlines())} lines, {len(text.split())} words, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1])
