"""Memory pressure: tmpfs pages go to swap and come back intact."""

from __future__ import annotations

import hashlib
from pathlib import Path

from hugetmpfs.trace import parse_file
from hugetmpfs.trace.model_runner import run_model

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pressure-and-readback.jsonl"


def _expected_sha() -> str:
    data = bytearray(b"\x5a" * (16 << 20))
    data += bytes.fromhex("00112233445566778899aabbccddeeff")
    data += b"\x5b" * ((16 << 20) - 16)
    return hashlib.sha256(data).hexdigest()


def test_pressure_swaps_the_file_out_and_reads_it_back() -> None:
    results = run_model(parse_file(str(EXAMPLE)))
    by_op = [(r["op"], r) for r in results]
    meminfo = [r for op, r in by_op if op == "meminfo"]
    during = meminfo[1]
    assert during["SwapFree"] < -16 << 10, "reclaim must have written at least 16 MiB to swap"
    assert during["Shmem"] < meminfo[0]["Shmem"]
    pread = next(r for op, r in by_op if op == "pread")
    assert pread["ret"] == 32 << 20
    assert pread["sha256"] == _expected_sha()
    assert meminfo[2]["SwapFree"] == 0, "reading the file back frees every swap slot"
    assert results[-1]["violations"] == []


def test_pressure_beyond_ram_and_swap_is_enomem_keeping_what_it_got() -> None:
    trace = parse_file(str(EXAMPLE))
    from hugetmpfs.trace.parse import parse_bytes

    text = EXAMPLE.read_text().replace('"bytes": "56M"', '"bytes": "200M"')
    results = run_model(parse_bytes(text.encode(), "big.jsonl"))
    pressure = next(r for r in results if r["op"] == "pressure")
    assert (pressure["ret"], pressure["errno"]) == (-1, "ENOMEM")
    after = [r for r in results if r["op"] == "meminfo"][1]
    assert after["Mlocked"] > 48 << 10, "the hog keeps what it got"
    assert len(results) == len(trace.ops)


def test_same_trace_same_results() -> None:
    trace = parse_file(str(EXAMPLE))
    assert run_model(trace) == run_model(trace)
