#!/usr/bin/env python3
"""Writes the hand-made seed inputs (seed-*) into fuzz/corpus/<target>/.

The rest of each corpus comes from short fuzz runs, pruned with
`-merge=1 -use_counters=0` (one input per new coverage edge, so the corpus
stays at a few dozen small files per target; FUZZ_MERGE=1 fuzz/run.sh does
this). Files named crash-* are inputs that once failed; keep them.
Layout of fuzz_parse / fuzz_differential inputs (read_setup in fuzz_common.hpp):
  flags (bit0 raw_bytes, bit1 small max_line_length, bit2 small max_event_size),
  max_line_length, max_event_size, largest chunk (0 = whole), 2 seed bytes, stream.
"""
import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

STREAMS = {
    "basic": b"data: hello\n\n",
    "multiline": b"data: a\ndata:b\r\ndata:  c\rdata\n\n",
    "event-id-retry": b"event: update\nid: 42\nretry: 3000\ndata: {\"k\":1}\n\n",
    "comment": b": heartbeat\n:\n:: x\n\n",
    "bom": b"\xef\xbb\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n",
    "partial-bom": b"\xef\xbbdata: x\n\n",
    "crlf-split": b"data: a\r\n\r\ndata: b\r\r\n\n",
    "utf8-invalid": b"data: \xe2\x82\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\x80\xff\n\n",
    "utf8-valid": b"data: \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\n\n",
    "id-nul": b"id: 1\n\nid: 2\x00\ndata: x\n\n",
    "id-empty": b"id: 7\n\nid\ndata: x\n\n",
    "retry-edge": b"retry: 18446744073709551616\nretry: 12a\nretry:\nretry: 007\n",
    "unterminated": b"data: one\n\ndata: two",
    "no-colon": b"data\n\nevent\ndata\n\n",
    "near-miss": b"dat: x\ndata : y\nData: z\n\n",
    "empty-data-dispatch": b"event: x\n\nid: 3\n\n",
}


def write(target, name, content):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(content)


def parse_inputs():
    for name, s in STREAMS.items():
        yield name + "-whole", bytes([0, 0, 0, 0, 0, 0]) + s
        yield name + "-bytewise", bytes([0, 0, 0, 1, 0, 0]) + s
        yield name + "-raw-chunks", bytes([1, 0, 0, 4, 0x12, 0x34]) + s
    # Small limits, so line_too_long and event_too_large happen.
    yield "limit-line", bytes([2, 6, 0, 3, 0, 1]) + b"data: 1234567\n\n"
    yield "limit-event", bytes([4, 0, 3, 2, 0, 2]) + b"data:a\ndata:b\ndata:c\n\n"
    yield "limit-unterminated", bytes([2, 4, 0, 0, 0, 0]) + b"data:a\n\n:123456"
    # Regression inputs for bugs found by the differential test. Chunk seed 22
    # with largest chunk 3 splits 8 bytes as 2, 0, 3, 2, 1: an empty chunk
    # inside a line that then turns out too long.
    yield "bug-empty-chunk-line-start", bytes([2, 3, 0, 3, 0x00, 22]) + b"abcdefg\n"
    yield "bug-partial-bom-limit", bytes([2, 0, 0, 0, 0, 0]) + b"\xefretry\r\n"


def roundtrip_inputs():
    def s(b):
        return bytes([len(b)]) + b
    u64 = lambda n: n.to_bytes(8, "big")
    ev = lambda data, typ=b"", ident=None, retry=None: (
        b"\x00" + s(data) + s(typ) + (b"\x01" + s(ident) if ident is not None else b"\x00")
        + (b"\x01" + u64(retry) if retry is not None else b"\x00"))
    yield "event", ev(b"hello")
    yield "event-full", ev(b"a\r\nb\rc\nd", b"update", b"42", 3000)
    yield "event-space", ev(b" lead", b" type", b" id")
    yield "event-empty", ev(b"") + ev(b"", b"", b"")
    yield "bad-type", ev(b"x", b"a\nb")
    yield "bad-id", ev(b"x", b"", b"a\x00b")
    yield "comment", b"\x01" + s(b" hi") + b"\x01" + s(b"bad\r")
    yield "retry-heartbeat", b"\x02" + u64(2**64 - 1) + b"\x03"
    yield "utf8", ev(b"\xef\xbb\xbf\xff\xc0\xaf", b"\xe2\x82", b"\xed\xa0\x80")


def utf8_inputs():
    yield "ascii", b"hello"
    yield "valid", b"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf\xef\xbb\xbf"
    yield "truncated", b"a\xc3\xe2\x82\xf0\x9f\x98"
    yield "overlong", b"\xc0\xaf\xc1\xbf\xe0\x80\xaf\xe0\x9f\xbf\xf0\x80\x80\xaf\xf0\x8f\xbf\xbf"
    yield "surrogates", b"\xed\xa0\x80\xed\xbf\xbf\xed\x9f\xbf"
    yield "too-large", b"\xf4\x90\x80\x80\xf5\x80\x80\x80\xf8\x88\x80\x80\x80"
    yield "stray", b"\x80\xbf\xfe\xff\xc2"
    yield "boundaries", b"\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80"


def content_decoder_inputs():
    """fuzz_content_decoder: flags (bit0 gzip, else deflate), chunk size,
    largest split, then a compressed stream flushed per event."""
    events = [b"id: 1\ndata: one\n\n", b"event: x\ndata: two\n\n", b": c\ndata: " + b"a" * 600 + b"\n\n"]

    def comp(wbits, pieces, finish=True):
        c = zlib.compressobj(6, zlib.DEFLATED, wbits)
        out = b"".join(c.compress(p) + c.flush(zlib.Z_SYNC_FLUSH) for p in pieces)
        return out + (c.flush() if finish else b"")

    seeds = {
        "gzip": (1, 0, 0, comp(31, events)),
        "gzip-split": (1, 7, 5, comp(31, events)),
        "gzip-members": (1, 16, 3, comp(31, events[:1]) + comp(31, events[1:])),
        "gzip-trailing": (1, 0, 2, comp(31, events[:1]) + b"junk"),
        "gzip-cut": (1, 9, 4, comp(31, events, False)),
        "zlib": (0, 0, 1, comp(15, events)),
        "zlib-split": (0, 3, 9, comp(15, events)),
        "raw": (0, 5, 2, comp(-15, events)),
        "raw-trailing": (0, 0, 0, comp(-15, events) + b"x"),
        "bomb": (1, 64, 200, comp(31, [b"data: " + b"a" * 200000])),
    }
    for name, (flags, chunk, split, body) in seeds.items():
        yield name, bytes([flags, chunk, split]) + body


if __name__ == "__main__":
    for name, data in parse_inputs():
        write("fuzz_parse", name, data)
        write("fuzz_differential", name, data)
    for name, data in roundtrip_inputs():
        write("fuzz_roundtrip", name, data)
    for name, data in utf8_inputs():
        write("fuzz_utf8", name, data)
    for name, data in content_decoder_inputs():
        write("fuzz_content_decoder", name, data)
