"""cocotb testbench of a generated system top: streams the inputs in, collects the outputs, counts cycles.

Configuration and results go through JSON files named by ACCELPLAN_TB / ACCELPLAN_TB_OUT (tests/test_rtl_sim.py)."""

import json
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge, Timer


def pack(values, bits):
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & ((1 << bits) - 1)) << (i * bits)
    return word


def unpack(word, n, bits):
    out = []
    for i in range(n):
        v = (word >> (i * bits)) & ((1 << bits) - 1)
        out.append(v - (1 << bits) if v >= 1 << (bits - 1) else v)
    return out


@cocotb.test()
async def run(dut):
    cfg = json.loads(open(os.environ["ACCELPLAN_TB"]).read())
    bits, iw, ow = cfg["bits"], cfg["in_width"], cfg["out_width"]
    s, m = cfg["in_port"], cfg["out_port"]
    flat = [v for x in cfg["inputs"] for v in x]
    beats = [pack(flat[i:i + iw], bits) for i in range(0, len(flat), iw)]
    want = len(cfg["inputs"]) * cfg["out_elements"]
    tdata, tvalid, tready = (getattr(dut, f"{s}_t{x}") for x in ("data", "valid", "ready"))
    odata, ovalid, oready = (getattr(dut, f"{m}_t{x}") for x in ("data", "valid", "ready"))
    cocotb.start_soon(Clock(dut.clk, 10, units="ns").start())
    dut.rst.value = 1
    tvalid.value = 0
    oready.value = 0
    for _ in range(4):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    got, done_at, i, cycle = [], [], 0, 0
    limit = cfg["max_cycles"]
    while len(got) < want and cycle < limit:
        if i < len(beats):
            tdata.value = beats[i]
            tvalid.value = 1
        else:
            tvalid.value = 0
        oready.value = 1
        await Timer(1, units="ns")
        took_in = i < len(beats) and int(tready.value) == 1
        if int(ovalid.value) == 1:
            got += unpack(int(odata.value), ow, bits)
            if len(got) % cfg["out_elements"] == 0:
                done_at.append(cycle)
        await FallingEdge(dut.clk)
        if took_in:
            i += 1
        cycle += 1
    with open(os.environ["ACCELPLAN_TB_OUT"], "w") as f:
        json.dump({"outputs": got[:want], "done_at": done_at, "cycles": cycle}, f)
