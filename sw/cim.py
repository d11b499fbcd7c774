"""The compute-in-memory mode from the host's side: ADC window calibration, the digits CNN's
accuracy against ADC bits and bits per cycle, cycles, and an energy table (issue 13).

* :func:`calibrate_shift`: a layer's ADC window (the shift of :func:`models.cim.cim_vmm`) from
  calibration inputs: the shift whose int32 accumulators are closest to the exact ones (least
  sum of squared differences; ties go to the smaller shift). Deterministic.
* :func:`run_cnn`: the trained digits CNN (:class:`sw.nets.digits.QuantizedCNN`) with every
  product on the CIM golden model. Convolutions are lowered as im2col (one vector per output
  pixel, K in the weight's (Cin, kh, kw) order, padding holding the input zero point), so the
  ADC groups are runs of ``group_rows`` consecutive K; bias, zero-point correction,
  requantization, ReLU and max-pooling stay digital and exact. The windows are calibrated layer
  after layer on training images, each layer on what the CIM layers before it produce.
* :func:`sweep`: accuracy for ADC bits 3..10 x bits per cycle 1, 2, 4, 8 (and one row with
  sliced weights), cycles per inference and energy per inference for each.
* ``python -m sw.cim`` writes ``docs/cim.json`` and ``docs/cim.png`` and prints the tables;
  ``--readme README.md`` rewrites the README's generated CIM section.

Energy: :data:`ENERGY` lists per-operation energies, each with its source; they are parameters
of an estimate, not measurements of this design. The array's own energy is
``conversions * E_adc(A) + row activations * E_row + cell operations * E_cell + conversions *
E_add``; digital post-processing and data movement are the same in both modes and left out.
"""

from __future__ import annotations

import argparse
import json
import pathlib
from dataclasses import asdict, dataclass

import numpy as np

import models
import models.conv
from models import cim
from models.cim import CimConfig

__all__ = ["ENERGY", "EnergyParam", "SweepRow", "calibrate_shift", "conv2d", "energy",
           "im2col", "run_cnn", "sweep"]

ROOT = pathlib.Path(__file__).resolve().parents[1]
JSON_PATH, PLOT_PATH = ROOT / "docs" / "cim.json", ROOT / "docs" / "cim.png"
#: the swept settings
ADC_SWEEP = tuple(range(3, 11))
BITS_SWEEP = cim.BITS_PER_CYCLE
#: rows per ADC group in the sweep: the default array's 16 rows share one ADC per column
GROUP_ROWS = 16
#: training images the windows are calibrated on (the first ones of the training split)
CALIBRATION_IMAGES = 256
#: array rows and columns of the cycle count (the default build)
ARRAY = (16, 16)


# --- calibration ---------------------------------------------------------------------------------

def _error(p, config, shift, x, exact):
    d = cim.reconstruct(p, config, shift, x).astype(np.int64) - exact
    return float(np.sum(d.astype(np.float64) ** 2))


def calibrate_shift(x, w, config):
    """The ADC window for ``w`` [N, K] on calibration inputs ``x`` [M, K] (int8): the shift in
    0..:data:`models.cim.SHIFT_MAX` whose :func:`models.cim.cim_vmm` is nearest the exact
    products (least sum of squared int32 differences; the smaller shift on a tie). Shifts past
    the largest partial sum's bit length are not tried (they only lose more)."""
    p = cim.partial_sums(x, w, config)
    exact = models.vmm(x, w).astype(np.int64)
    top = min(cim.SHIFT_MAX, int(np.abs(p).max(initial=0)).bit_length() + 1)
    errors = [_error(p, config, s, x, exact) for s in range(top + 1)]
    return int(np.argmin(errors))


# --- the digits CNN on the CIM model -------------------------------------------------------------

def im2col(x, kernel, padding, pad_value):
    """int8 ``x`` [N, C, H, W] -> [N*Ho*Wo, C*kh*kw] (stride 1), K in (C, kh, kw) order."""
    n, c, h, wd = x.shape
    kh, kw = kernel
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
                constant_values=pad_value)
    ho, wo = h + 2 * padding - kh + 1, wd + 2 * padding - kw + 1
    taps = np.stack([xp[:, :, i:i + ho, j:j + wo] for i in range(kh) for j in range(kw)], axis=2)
    # taps [N, C, kh*kw, Ho, Wo] -> [N, Ho, Wo, C, kh*kw]
    return taps.transpose(0, 3, 4, 1, 2).reshape(n * ho * wo, c * kh * kw), (ho, wo)


def conv2d(x, w, b, *, padding, input_zero_point, scale, zero_point, relu, max_pool, config,
           shift):
    """:func:`models.conv.conv2d` (stride 1, one group) with the products on the CIM model."""
    cols, (ho, wo) = im2col(x, w.shape[2:], padding, input_zero_point)
    y = cim.linear(cols, w.reshape(len(w), -1), b, scale=scale, zero_point=zero_point,
                   relu=relu, input_zero_point=input_zero_point, config=config, shift=shift)
    y = y.reshape(x.shape[0], ho, wo, len(w)).transpose(0, 3, 1, 2)
    return models.conv.max_pool2d(np.ascontiguousarray(y), max_pool, max_pool)


def _layers(q):
    """(name, [input [M, K] -> products], runner) per layer of the QuantizedCNN ``q``."""
    conv_kw = dict(padding=1, input_zero_point=-128, zero_point=-128, relu=True, max_pool=2)
    steps = []
    for (name, _), (w, b, scale) in zip(q.LAYERS, q.convs, strict=False):
        steps.append((name, w.reshape(len(w), -1),
                      lambda h, cfg, s, w=w, b=b, scale=scale: conv2d(
                          h, w, b, scale=scale, config=cfg, shift=s, **conv_kw),
                      lambda h, w=w: im2col(h, w.shape[2:], 1, -128)[0]))
    fc = q.fc
    steps.append(("fc", fc.w,
                  lambda h, cfg, s: cim.linear(h.reshape(len(h), -1), fc.w, fc.b, config=cfg,
                                               shift=s, **fc.kwargs()),
                  lambda h: h.reshape(len(h), -1)))
    return steps


def calibrate_cnn(q, pixels, config):
    """The windows {layer: shift} of the CNN ``q`` on calibration ``pixels`` [n, 64]: layer after
    layer, each on the outputs of the CIM layers before it."""
    from sw.nets.digits import QuantizedMLP
    h = QuantizedMLP.quantize_input(pixels).reshape(-1, 1, 8, 8)
    shifts = {}
    for name, w2, run, lower in _layers(q):
        shifts[name] = calibrate_shift(lower(h), w2, config)
        h = run(h, config, shifts[name])
    return shifts


def run_cnn(q, pixels, config, shifts):
    """Float logits [n, 10] of the CNN ``q`` with every product on the CIM model."""
    from sw.nets.digits import QuantizedMLP
    h = QuantizedMLP.quantize_input(pixels).reshape(-1, 1, 8, 8)
    for name, _, run, _ in _layers(q):
        h = run(h, config, shifts[name])
    return h.astype(np.float64) * q.logit_scale


def cnn_gemms(q):
    """(name, M per image, K, N) of the CNN's products as :func:`run_cnn` lowers them."""
    out, hw = [], 8
    for (name, _), (w, _, _) in zip(q.LAYERS, q.convs, strict=False):
        out.append((name, hw * hw, int(np.prod(w.shape[1:])), len(w)))
        hw //= 2
    out.append(("fc", 1, q.fc.w.shape[1], len(q.fc.w)))
    return out


def array_vectors(gemms, rows=ARRAY[0], cols=ARRAY[1]):
    """Vectors the array takes per image: each [M, K] x [N, K] tiled onto R x C as the driver
    tiles it (K by R rows, N by C columns): ``M * ceil(K/R) * ceil(N/C)``."""
    return sum(m * -(-k // rows) * -(-n // cols) for _, m, k, n in gemms)


def measured_cycles(bits_per_cycle=None, images=40):
    """Cycles per image of the digits CNN through the driver on the register model (its cycle
    model; layers as programs, ``images`` images per call): the exact digital build with
    ``bits_per_cycle`` None, else a CIM build of the default 16x16 array (groups of
    :data:`GROUP_ROWS` rows; the ADC does not change the timing)."""
    from sw.accelerator import Accelerator
    from sw.nets.digits import QuantizedCNN, load, load_cnn
    x_train, x_test, _, _ = load()
    q = QuantizedCNN.from_float(load_cnn(), x_train)
    kw = {} if bits_per_cycle is None else dict(cim=CimConfig(bits_per_cycle, GROUP_ROWS, 8))
    with Accelerator.open("regmodel", **kw) as acc:
        total = []
        q(acc, x_test[:images], after=lambda _: total.append(acc.stats.cycles))
    return sum(total) / images


# --- energy --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnergyParam:
    name: str
    value_pj: float
    what: str
    source: str


#: per-operation energies (pJ): parameters of the estimate, each with where it comes from
ENERGY = (
    EnergyParam("adc_fom", 0.010, "ADC energy per conversion step (Walden figure of merit): "
                "E_adc(A) = adc_fom * 2**A",
                "B. Murmann, ADC Performance Survey 1997-2024 (SAR ADCs at moderate speed lie "
                "near 10 fJ/conversion-step; the best below 1); NeuroSim and CrossSim also "
                "scale the column ADC with resolution"),
    EnergyParam("row", 0.030, "one word-line activation (a row driven for one input slice)",
                "assumption, the order of an 8-bit add (M. Horowitz, 'Computing's energy "
                "problem', ISSCC 2014, 45 nm: 0.03 pJ)"),
    EnergyParam("cell", 0.002, "one cell's analog multiply for one input slice",
                "charge-domain SRAM macros report ~1000 TOPS/W at 1-bit input, 2-bit weight "
                "(arXiv:2605.30814, 65 nm): ~2 fJ per 2-operation MAC"),
    EnergyParam("add32", 0.100, "a 32-bit add: shift-and-add of one ADC code",
                "M. Horowitz, ISSCC 2014, 45 nm: 32-bit integer add 0.1 pJ"),
    EnergyParam("mult8", 0.200, "an 8-bit multiply (the digital mode's cell)",
                "M. Horowitz, ISSCC 2014, 45 nm: 8-bit integer multiply 0.2 pJ"),
)
_E = {p.name: p.value_pj for p in ENERGY}


def energy(gemms, config, rows=ARRAY[0], cols=ARRAY[1]):
    """Energy per image (pJ) of the array on ``gemms`` [(name, M, K, N)], each tiled onto
    R x C: ``config`` None is the digital mode (a multiply and a 32-bit add per cell and
    vector), else the CIM terms of the module docstring, counted with
    :func:`models.cim.counts` per array pass (a full R x C array per vector, as the hardware
    counts). Returns {term: pJ} with "total"."""
    vectors = array_vectors(gemms, rows, cols)
    if config is None:
        cells = vectors * rows * cols
        terms = {"multiply": cells * _E["mult8"], "add": cells * _E["add32"]}
    else:
        c = cim.counts(vectors, rows, cols, config)
        cell_ops = vectors * rows * cols * config.input_slices * config.weight_slices
        terms = {"adc": c["adc_conversions"] * _E["adc_fom"] * 2 ** config.adc_bits,
                 "rows": c["row_activations"] * _E["row"],
                 "cells": cell_ops * _E["cell"],
                 "shift_add": c["adc_conversions"] * _E["add32"]}
    terms["total"] = sum(terms.values())
    return terms


# --- the sweep -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepRow:
    """One setting of the sweep and what it gives."""
    bits_per_cycle: int
    adc_bits: int
    group_rows: int
    cell_bits: int
    shifts: dict
    accuracy: float
    cycles_per_image: int
    adc_conversions: int
    row_activations: int
    energy_pj: float
    tops_per_watt: float

    def as_dict(self):
        return asdict(self)


def sweep(adc_bits=ADC_SWEEP, bits_per_cycle=BITS_SWEEP, group_rows=GROUP_ROWS,
          cell_bits=(8,), images=None):
    """The digits CNN on the CIM model at every setting; returns (header dict, [SweepRow])."""
    from sw.nets.digits import QuantizedCNN, accuracy, cnn_forward, load, load_cnn
    x_train, x_test, _, y_test = load()
    if images:
        x_test, y_test = x_test[:images], y_test[:images]
    params = load_cnn()
    q = QuantizedCNN.from_float(params, x_train)
    cal = x_train[:CALIBRATION_IMAGES]
    gemms = cnn_gemms(q)
    macs = sum(m * k * n for _, m, k, n in gemms)
    vectors = array_vectors(gemms)
    digital = energy(gemms, None)["total"]
    head = {"test_images": len(x_test), "calibration_images": len(cal),
            "float_accuracy": accuracy(cnn_forward(params, x_test), y_test),
            "digital_accuracy": accuracy(q.golden(x_test), y_test),
            "macs_per_image": macs, "array": list(ARRAY), "vectors_per_image": vectors,
            "digital_cycles_per_image": vectors,
            "digital_energy_pj": digital, "digital_tops_per_watt": 2 * macs / digital,
            "energy_params": [asdict(p) for p in ENERGY]}
    rows = []
    for cb in cell_bits:
        for b in bits_per_cycle:
            for a in adc_bits:
                cfg = CimConfig(bits_per_cycle=b, group_rows=group_rows, adc_bits=a,
                                cell_bits=cb)
                shifts = calibrate_cnn(q, cal, cfg)
                acc = accuracy(run_cnn(q, x_test, cfg, shifts), y_test)
                counts = cim.counts(vectors, ARRAY[0], ARRAY[1], cfg)
                e = energy(gemms, cfg)["total"]
                rows.append(SweepRow(b, a, group_rows, cb, shifts, acc,
                                     vectors * cfg.cycles_per_vector, counts["adc_conversions"],
                                     counts["row_activations"], e, 2 * macs / e))
    return head, rows


# --- reports -------------------------------------------------------------------------------------

README_SECTION = ("cim figures", "docs/cim.json (python -m sw.cim --readme README.md)")


def markdown(record):
    """The README's tables from a ``docs/cim.json`` record."""
    head, rows = record["head"], record["rows"]
    measured = head["measured_cycles_per_image"]
    main = [r for r in rows if r["cell_bits"] == 8]
    bits = sorted({r["bits_per_cycle"] for r in main})
    adcs = sorted({r["adc_bits"] for r in main})
    by = {(r["bits_per_cycle"], r["adc_bits"]): r for r in main}
    lines = [f"Digits CNN, {head['test_images']} test images; float {head['float_accuracy']:.4f}, "
             f"exact int8 (digital mode) {head['digital_accuracy']:.4f}; ADC groups of "
             f"{main[0]['group_rows']} rows, int8 weight cells, windows calibrated on "
             f"{head['calibration_images']} training images. Top-1 accuracy:", "",
             "| bits per cycle \\ ADC bits | " + " | ".join(str(a) for a in adcs) + " |",
             "|---|" + "---|" * len(adcs)]
    for b in bits:
        lines.append(f"| {b} | " + " | ".join(f"{by[b, a]['accuracy']:.4f}" for a in adcs)
                     + " |")
    sliced = [r for r in rows if r["cell_bits"] != 8]
    if sliced:
        lines += ["", "Sliced weights (offset encoding):", "",
                  "| cell bits | bits per cycle | ADC bits | accuracy |", "|---|---|---|---|"]
        lines += [f"| {r['cell_bits']} | {r['bits_per_cycle']} | {r['adc_bits']} | "
                  f"{r['accuracy']:.4f} |" for r in sliced]
    lines += ["", f"Per image ({head['macs_per_image']:,} MACs, {head['vectors_per_image']} "
              f"vectors on the {head['array'][0]}x{head['array'][1]} array), at 8-bit ADCs: "
              f"the array's cycles (vectors x 8/B, no data movement), the cycles of the whole "
              f"run through the driver on the register model's cycle model (layers as "
              f"programs, 40 images per call, data movement included) and the energy of the "
              f"array alone from the parameters below:", "",
              "| mode | array cycles | cycles, register model | ADC conversions | "
              "row activations | energy (nJ) | TOPS/W |",
              "|---|---|---|---|---|---|---|",
              f"| digital | {head['digital_cycles_per_image']} | {measured['None']:.1f} | – | – | "
              f"{head['digital_energy_pj'] / 1000:.2f} | {head['digital_tops_per_watt']:.2f} |"]
    for b in bits:
        r = by.get((b, 8)) or by[b, adcs[-1]]
        lines.append(f"| CIM, {b} bit{'s' if b > 1 else ''} per cycle, {r['adc_bits']}-bit ADC | "
                     f"{r['cycles_per_image']} | {measured[str(b)]:.1f} | "
                     f"{r['adc_conversions']:,} | "
                     f"{r['row_activations']:,} | {r['energy_pj'] / 1000:.2f} | "
                     f"{r['tops_per_watt']:.2f} |")
    synth = head.get("synthesis")
    if synth:
        tools = ", ".join(f"{k} {v}" for k, v in synth[0]["tools"].items())
        lines += ["", f"The array alone, {synth[0]['shape'][0]}x{synth[0]['shape'][1]} with "
                  f"{synth[0]['shape'][2]} banks, for the LFE5U-85F (speed 8, out of context; "
                  f"`python -m hw.cim_synth`, {tools}):", "",
                  "| array | LUT4 | FF | DSP | Fmax (MHz) | run time |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['what']} | {r['lut4']:,} | {r['ff']:,} | {r['dsp']} | "
                  f"{r['fmax_mhz']:.1f} | {r['minutes']:.0f} min |" for r in synth]
    lines += ["", "| parameter | pJ | what | source |", "|---|---|---|---|"]
    lines += [f"| {p['name']} | {p['value_pj']} | {p['what']} | {p['source']} |"
              for p in head["energy_params"]]
    return "\n".join(lines)


def plot(record, path):
    """Accuracy against ADC bits, one line per bits per cycle (PNG)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    head, rows = record["head"], record["rows"]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for b in sorted({r["bits_per_cycle"] for r in rows}):
        pts = sorted((r["adc_bits"], r["accuracy"]) for r in rows
                     if r["bits_per_cycle"] == b and r["cell_bits"] == 8)
        ax.plot(*zip(*pts, strict=True), marker="o", label=f"{b} bit(s) per cycle")
    ax.axhline(head["digital_accuracy"], color="k", ls="--", lw=1, label="exact int8")
    ax.set_xlabel("ADC bits")
    ax.set_ylabel("top-1 accuracy")
    ax.set_title(f"digits CNN in CIM mode ({head['test_images']} test images)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


def main(argv=None):
    from hw.spec.markdown import replace_section
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, help="only the first N test images")
    p.add_argument("--json", default=str(JSON_PATH), help="write the record here")
    p.add_argument("--plot", default=str(PLOT_PATH), help="write the plot here")
    p.add_argument("--readme", help="rewrite the generated CIM section of this README")
    p.add_argument("--from-json", action="store_true",
                   help="do not run the sweep: read --json and only write the tables and plot")
    args = p.parse_args(argv)
    if args.from_json:
        record = json.loads(pathlib.Path(args.json).read_text())
    else:
        head, rows = sweep(images=args.images)
        _, sliced = sweep(adc_bits=(4, 6, 8), bits_per_cycle=(1, 2), cell_bits=(2,),
                          images=args.images)
        head["measured_cycles_per_image"] = {str(b): measured_cycles(b)
                                             for b in (None, *BITS_SWEEP)}
        record = {"head": head, "rows": [r.as_dict() for r in rows + sliced]}
        pathlib.Path(args.json).write_text(json.dumps(record, indent=1) + "\n")
    text = markdown(record)
    print(text)
    if args.plot:
        plot(record, args.plot)
    if args.readme:
        path = pathlib.Path(args.readme)
        path.write_text(replace_section(path.read_text(), *README_SECTION, text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
