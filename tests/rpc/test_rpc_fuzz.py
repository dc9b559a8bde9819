"""Fuzzing: random and mutated bytes never raise anything but XDRError/FrameError."""

from __future__ import annotations

import contextlib
import random

from virtkit.rpc import message as m
from virtkit.rpc import xdr
from virtkit.rpc.message import FrameError, FrameReader
from virtkit.rpc.protocol import REMOTE
from virtkit.rpc.xdr import XDRError

SEED = 20260409


def _types() -> list[xdr.XDRType]:
    seen: dict[int, xdr.XDRType] = {id(m.remote_error): m.remote_error}
    for p in REMOTE:
        for t in (p.args, p.ret):
            seen.setdefault(id(t), t)
    return list(seen.values())


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if op == 0 and b:  # flip a byte
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1 and b:  # truncate
            del b[rng.randrange(len(b)):]
        elif op == 2:  # insert random bytes
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and len(b) >= 4:  # plant a huge or boundary word
            i = rng.randrange(0, len(b) - 3) & ~3
            b[i:i + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x7f\xff\xff\xff",
                                     b"\0\0\0\x02", b"\0\x40\0\x01", b"\x80\0\0\0"])
        elif b:  # duplicate a slice
            i = rng.randrange(len(b))
            b[i:i] = b[i:i + rng.randint(1, 16)]
    return bytes(b)


def _decode_ok_or_xdr_error(t: xdr.XDRType, data: bytes) -> None:
    with contextlib.suppress(XDRError):
        t.decode(data)


def test_fuzz_every_type_decoder() -> None:
    rng = random.Random(SEED)
    types = _types()
    seeds = {}
    for t in types:
        # a valid encoding to mutate: zeros decode as empty lists/None/0 everywhere
        data = bytes(t.min_size)
        try:
            t.decode(data)
        except XDRError:
            data = b""
        seeds[id(t)] = data
    for _ in range(50):
        for t in types:
            _decode_ok_or_xdr_error(t, rng.randbytes(rng.randint(0, 64)))
            _decode_ok_or_xdr_error(t, _mutate(rng, seeds[id(t)]))


def test_fuzz_mutated_trace_payloads() -> None:
    """Mutations of real messages, decoded as their procedure's types."""
    from test_rpc_protocol import TRACE_MESSAGES, _body_type

    rng = random.Random(SEED + 1)
    for _ in range(20):
        for side, msg, _ in TRACE_MESSAGES:
            t = _body_type(side, msg)
            _decode_ok_or_xdr_error(t, _mutate(rng, msg.payload))


def test_fuzz_frame_reader() -> None:
    rng = random.Random(SEED + 2)
    good = m.encode_message(m.Header(m.REMOTE_PROGRAM, 1, 16, m.MessageType.CALL, 3),
                            body_type=REMOTE["domain_lookup_by_name"].args,
                            body={"name": "fuzz"})
    for _ in range(3000):
        stream = b"".join(rng.choice([good, _mutate(rng, good), rng.randbytes(rng.randint(0, 40))])
                          for _ in range(rng.randint(1, 4)))
        r = FrameReader()
        pos = 0
        try:
            while pos < len(stream):
                n = rng.randint(1, 64)
                for msg in r.feed(stream[pos:pos + n]):
                    assert len(msg.payload) <= m.MESSAGE_MAX
                pos += n
        except FrameError:
            pass
        assert r.buffered <= m.MESSAGE_MAX
        with contextlib.suppress(FrameError):
            m.decode_message(stream)
