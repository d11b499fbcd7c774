"""cocotb test of the MULT18X18D model (hw.ecp5.mult18x18d_model) against Python integers
(run by test_ecp5_sim.py).

The bench (``mult_bench``, written by test_ecp5_sim.py) holds one block per register mode, all
fed the same A, B, SIGNEDA, SIGNEDB and the four CE and RST inputs, with different choices of
the controls: ``none`` (no register), ``in`` (A and B registered on CLK1, A with CE2/RST3, B
with CE1/RST0), ``out`` (the product registered on CLK0 with CE3/RST1) and ``all`` (A and B on
CLK0 with CE0/RST0, P with CE1/RST2; pimacc's use, plus resets). CLK0 and CLK1 are the clock,
CLK2 and CLK3 stay low. Every cycle the harness drives random operands (signed or unsigned,
extremes often) and random enables and resets, and compares the four products with a model
in Python integers of the registers as TN-02205 describes them: on the clock's edge a register
with its RST high clears, else with its CE high takes its input.
"""

import cocotb

from verif.hw.block_util import TIMEOUT, Cycles, rng_for

BENCHES = ("none", "in", "out", "all")
#: each bench's registers: (clock enable, reset) input numbers, None: no register
REGS = {
    "none": {"a": None, "b": None, "p": None},
    "in": {"a": (2, 3), "b": (1, 0), "p": None},
    "out": {"a": None, "b": None, "p": (3, 1)},
    "all": {"a": (0, 0), "b": (0, 0), "p": (1, 2)},
}
EXTREMES = (0, 1, 0x1FFFF, 0x20000, 0x3FFFF, 0x3FFFE)


def value(bits, signed):
    return bits - (1 << 18) if signed and bits >> 17 else bits


class Block:
    """One bench's registers, in Python integers."""

    def __init__(self, regs):
        self.regs = regs
        self.q = {"a": 0, "b": 0, "p": 0}

    def operands(self, a, b):
        a = a if self.regs["a"] is None else self.q["a"]
        b = b if self.regs["b"] is None else self.q["b"]
        return a, b

    def product(self, a, b, signed_a, signed_b):
        a, b = self.operands(a, b)
        return (value(a, signed_a) * value(b, signed_b)) & ((1 << 36) - 1)

    def output(self, a, b, signed_a, signed_b):
        if self.regs["p"] is None:
            return self.product(a, b, signed_a, signed_b)
        return self.q["p"]

    def edge(self, a, b, signed_a, signed_b, ce, rst):
        nxt = dict(self.q)
        for name, given in (("a", a), ("b", b), ("p", self.product(a, b, signed_a, signed_b))):
            if self.regs[name] is None:
                continue
            ce_n, rst_n = self.regs[name]
            if rst[rst_n]:
                nxt[name] = 0
            elif ce[ce_n]:
                nxt[name] = given
        self.q = nxt


@cocotb.test(**TIMEOUT)
async def model_matches_python_integers(dut):
    rng = rng_for(dut)
    outputs = [f"p_{n}" for n in BENCHES]
    inputs = ["a", "b", "signeda", "signedb", "ce", "rst"]
    cycles = Cycles(dut, outputs)
    await cycles.start(inputs)
    blocks = {n: Block(REGS[n]) for n in BENCHES}
    checked = 0
    for k in range(3000):
        a = int(rng.choice(EXTREMES)) if rng.random() < 0.2 else int(rng.integers(0, 1 << 18))
        b = int(rng.choice(EXTREMES)) if rng.random() < 0.2 else int(rng.integers(0, 1 << 18))
        sa, sb = int(rng.random() < 0.7), int(rng.random() < 0.7)
        ce = [int(rng.random() < 0.8) for _ in range(4)]
        rst = [int(rng.random() < 0.05) for _ in range(4)]
        got = await cycles.step(a=a, b=b, signeda=sa, signedb=sb,
                                ce=sum(v << i for i, v in enumerate(ce)),
                                rst=sum(v << i for i, v in enumerate(rst)))
        for n in BENCHES:
            want = blocks[n].output(a, b, sa, sb)
            assert got[f"p_{n}"] == want, (
                f"cycle {k}, {n}: P={got[f'p_{n}']:#x}, want {want:#x} (A={a:#x} B={b:#x} "
                f"SIGNEDA={sa} SIGNEDB={sb} CE={ce} RST={rst})")
            blocks[n].edge(a, b, sa, sb, ce, rst)
            checked += 1
    dut._log.info(f"{checked} products checked")
