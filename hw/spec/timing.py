"""Cycle timing of pimacc, written once: pipeline latencies, a command's busy time, and what the
driver's protocol costs on the bus.

The gateware takes its latencies from here (each block's ``LATENCY``), and its tests prove the
blocks keep them; the register-level model, the tiler's cost model, the bench and the docs read
the same numbers.

A VMM command of ``COUNT`` vectors issues one vector per cycle, then drains::

    issue j -> input buffer read (INPUT_READ_LATENCY) -> VmmArray (array_latency(R))
            -> Accumulator (ACCUMULATOR_LATENCY) -> post-processing (POSTPROC_LATENCY)
            -> output buffer

so it is busy for ``COUNT + drain(L)`` cycles, ``COUNT + L - 1`` of them with a vector inside
the array (PERF_COMPUTE), where ``L = array_latency(R)`` is CFG_LATENCY. A VMM without REQUANT
gives the post-processing chain nothing: it is done once its sums are in ACC,
``drain(L, requant=False)`` cycles after its last issue -- but never before the command ahead
of it (done pulses keep command order, one cycle apart at least).
"""

from __future__ import annotations

from .regmap import command_registers

__all__ = [
    "ARRAY_LEVELS_PER_STAGE", "INPUT_READ_LATENCY", "ACCUMULATOR_LATENCY", "POSTPROC_STAGES",
    "POSTPROC_LATENCY", "COMMAND_WORDS", "stage_latency", "array_latency", "drain", "busy_cycles",
    "compute_cycles", "cim_vector_cycles", "cim_array_latency", "ARRAY_PIPELINES",
]

#: adder-tree levels between two pipeline registers of the VMM array
ARRAY_LEVELS_PER_STAGE = 2
#: the input buffer's read port: the vector reaches the array one cycle after its issue
INPUT_READ_LATENCY = 1
#: the accumulator's read-modify-write
ACCUMULATOR_LATENCY = 1
#: the post-processing chain in stream order: (block class, latency)
#: (the requantizer's last stage is combinational into the LUT's registers, which
#: read the LUT's block RAM with the row and register its entry a cycle later: the block RAM's
#: 4.26 ns clock-to-output never meets max-pool's compare in one cycle; ReLU comes after
#: max-pool, whose compare it met in one cycle before: max(x, zp) commutes with a group's max)
POSTPROC_STAGES = (("Requantize", 4), ("Lut", 2), ("GroupMax", 1), ("Relu", 0))
POSTPROC_LATENCY = sum(latency for _, latency in POSTPROC_STAGES)
#: bus words of the command protocol besides data: the CMD_* block, CTRL.START, a STATUS read
#: and the STATUS.DONE clear (the driver rewrites only the CMD_* words that changed, so this is
#: an upper bound)
COMMAND_WORDS = len(command_registers()) + 3


def stage_latency(name):
    """The latency of a post-processing stage by its block's class name."""
    return dict(POSTPROC_STAGES)[name]


def _ceil_log2(n):
    return (n - 1).bit_length()


#: the VMM array's optional extra pipeline stages (a build parameter, ``hw.vmm_array.VmmArray``'s
#: ``pipeline``): 0 none; 1 the input broadcast registered (each column's copy of the vector and
#: of its bank's weights: the multipliers' input registers); 2 the products registered too; 3
#: the products registered a second time (a copy beside the adder tree: the route from a
#: column of DSP blocks to the tree gets a cycle of its own)
ARRAY_PIPELINES = (0, 1, 2, 3)


def array_latency(rows, pipeline=0):
    """Cycles of the VMM array from an input vector to its column sums (CFG_LATENCY): the input
    register, then the adder tree registered every :data:`ARRAY_LEVELS_PER_STAGE` levels (at
    least one stage): 2 for R <= 4, 3 for R <= 16, 4 for R <= 64; plus ``pipeline`` (one of
    :data:`ARRAY_PIPELINES`), the extra stages of a pipelined array."""
    if pipeline not in ARRAY_PIPELINES or isinstance(pipeline, bool):
        raise ValueError(f"pipeline must be one of {ARRAY_PIPELINES}, got {pipeline!r}")
    return 1 + max(1, -(-_ceil_log2(rows) // ARRAY_LEVELS_PER_STAGE)) + pipeline


def drain(latency, requant=True):
    """Cycles from the last vector's issue until its results are in ACC and OUT (with
    ``requant``; else in ACC), for an array of latency ``latency`` (CFG_LATENCY,
    :func:`array_latency`)."""
    to_acc = INPUT_READ_LATENCY + latency + ACCUMULATOR_LATENCY
    return to_acc + POSTPROC_LATENCY if requant else to_acc


def busy_cycles(count, latency, requant=True, vector_cycles=1):
    """STATUS.BUSY cycles (PERF_BUSY) of a VMM command of ``count`` vectors, alone (a VMM
    without REQUANT right behind one with it may wait for that one's done). With
    ``vector_cycles`` (a CIM array, :func:`cim_vector_cycles`) the issues come that many
    cycles apart: ``(count - 1) * vector_cycles + 1 + drain``."""
    return (count - 1) * vector_cycles + 1 + drain(latency, requant)


def compute_cycles(count, latency, vector_cycles=1):
    """PERF_COMPUTE cycles of a VMM command: some vector is inside the array
    (``(count - 1) * vector_cycles + latency``)."""
    return (count - 1) * vector_cycles + latency


def cim_vector_cycles(bits_per_cycle):
    """Cycles the array takes per input vector in compute-in-memory mode (``models.cim``): one
    input slice of ``bits_per_cycle`` bits per cycle, ``8 / bits_per_cycle`` in all (the exact
    digital mode takes 1)."""
    if bits_per_cycle not in (1, 2, 4, 8) or isinstance(bits_per_cycle, bool):
        raise ValueError(f"bits_per_cycle must be one of (1, 2, 4, 8), got {bits_per_cycle!r}")
    return 8 // bits_per_cycle


def cim_array_latency(bits_per_cycle):
    """Cycles of the CIM array (``hw.cim_array.CimArray``) from a vector's acceptance to its
    column sums: the input register, one cycle per slice into the partial-sum registers, then
    the ADCs with shift-and-add into the output: ``8 / bits_per_cycle + 2``."""
    return cim_vector_cycles(bits_per_cycle) + 2
