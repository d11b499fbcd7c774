"""Convolutions per tap over images kept on chip (sw/driver/taps.py): exact against the golden
model for every plan the driver may pick, the choice against the patch lowering by the cycle
model, and the bytes it saves."""

import zlib

import numpy as np
import pytest

import models.conv as golden
from hw.spec import Geometry
from sw import Accelerator
from sw.driver.taps import tap_options
from sw.knobs import seed as env_seed
from sw.layers import conv as conv_module
from sw.targets.regmodel import RegisterModel

pytestmark = pytest.mark.nosim

GEOMETRIES = {
    "16x16": {},
    "4x4-small": dict(rows=4, cols=4, in_depth=48, acc_depth=24, out_depth=24),
    "8x6-banks3-64bit": dict(rows=8, cols=6, banks=3, in_depth=160, acc_depth=40,
                             out_depth=40, mem_bits=64),
}
CASES = {  # n, cin, h, w, cout, (kh, kw), padding, int8 keywords (None: int32)
    "3x3 int32": (1, 16, 9, 9, 16, (3, 3), (1, 1), None),
    "3x3 batch bias int32": (2, 5, 7, 6, 7, (3, 3), (1, 1), {}),
    "3x5 pad 0 int8 zp relu": (1, 9, 8, 10, 13, (3, 5), (0, 2),
                               dict(scale=0.0007, zero_point=-4, relu=True,
                                    input_zero_point=7)),
    "1x1 int8 lut": (1, 20, 5, 5, 9, (1, 1), (0, 0), dict(scale=0.002, lut=True)),
}


def _data(rng, n, cin, h, w, cout, kernel, keywords):
    x = rng.integers(-128, 128, (n, cin, h, w), dtype=np.int8)
    wt = rng.integers(-128, 128, (cout, cin, *kernel), dtype=np.int8)
    b = None if keywords is None else rng.integers(-3000, 3000, cout, dtype=np.int32)
    kw = dict(keywords or {})
    if kw.get("lut"):
        kw["lut"] = rng.integers(-128, 128, 256, dtype=np.int8)
    return x, wt, b, kw


@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("case", CASES)
def test_every_tap_plan_is_exact(geometry, case, monkeypatch):
    n, cin, h, w, cout, kernel, padding, keywords = CASES[case]
    g = Geometry.default(**GEOMETRIES[geometry])
    s = env_seed() + zlib.crc32(f"{geometry} {case}".encode()) % 1000
    print(f"seed={s}")
    x, wt, b, kw = _data(np.random.default_rng(s), n, cin, h, w, cout, kernel, keywords)
    want = golden.conv2d(x, wt, b, padding=padding, **kw)
    plans = tap_options(n, cin, h, w, cout, *kernel, padding, g, int8="scale" in kw,
                        bias=b is not None or bool(kw.get("input_zero_point")),
                        relu=bool(kw.get("relu")), lut="lut" in kw)
    assert plans, "one output row fits every geometry here"
    assert len({(p.rows, p.resident, p.per_row) for p in plans}) == len(plans)
    # (a band of one output row is the same program either way: only the wide one is tried)
    assert any(p.per_row for p in plans) == (plans[0].out[1] < plans[0].padded[1]
                                             and any(p.rows > 1 for p in plans))
    for plan in plans:
        monkeypatch.setattr(conv_module, "_per_tap", lambda *a, plan=plan: plan)
        dev = RegisterModel(g)
        acc = Accelerator(dev)
        got = acc.conv2d(x, wt, b, padding=padding, **kw)
        assert acc.mapping.name == "taps" and acc.plan == plan and acc.path == "program"
        np.testing.assert_array_equal(got, want, err_msg=f"{plan}")
        # the cycle model the driver chooses by is the one the register model runs
        assert acc.predict_taps(plan, lut="lut" in kw) == dev.last_program.cycles


def test_plans_cover_resident_and_reloaded_planes():
    g = Geometry.default(rows=4, cols=4, in_depth=120, acc_depth=24, out_depth=24)
    plans = tap_options(1, 9, 8, 8, 4, 3, 3, (1, 1), g)   # 3 planes of a 10-wide image
    assert [(p.rows, p.resident, p.per_row) for p in plans] == [
        (2, False, False), (1, True, False), (2, False, True)]
    x = np.arange(9 * 64, dtype=np.int64).reshape(1, 9, 8, 8).astype(np.int8)
    w = np.arange(4 * 81, dtype=np.int64).reshape(4, 9, 3, 3).astype(np.int8)
    for plan in plans:
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(conv_module, "_per_tap", lambda *a, plan=plan: plan)
            acc = Accelerator(RegisterModel(g))
            np.testing.assert_array_equal(acc.conv2d(x, w, padding=1),
                                          golden.conv2d(x, w, padding=1))
    for p in plans:
        assert p.count(p.rows) <= g.acc_depth and p.band(p.rows) <= g.in_depth
    # not even one output row fits: no plan (the patch lowering runs)
    assert tap_options(1, 4, 4, 40, 4, 3, 3, (1, 1), g) == []


def test_conv2d_runs_per_tap_when_the_cycle_model_says_faster():
    # the bench's 3x3 16->16 layer and SCALE-Sim's 3x3 64->64: the driver runs whichever of
    # per tap and the patch lowering the cycle model predicts faster; per tap reads a fraction
    # of the bytes
    s = env_seed() + 64
    print(f"seed={s}")
    rng = np.random.default_rng(s)
    chosen = []
    for cin, cout in ((16, 16), (64, 64)):
        x = rng.integers(-128, 128, (1, cin, 16, 16), dtype=np.int8)
        w = rng.integers(-128, 128, (cout, cin, 3, 3), dtype=np.int8)
        want = golden.conv2d(x, w, padding=1)
        acc = Accelerator.open("regmodel")
        np.testing.assert_array_equal(acc.conv2d(x, w, padding=1), want)
        chosen.append(acc.mapping.name)
        runs = {}
        for name, force in (("taps", None), ("patch", lambda *a: None)):
            with pytest.MonkeyPatch.context() as mp:
                if force is not None:
                    mp.setattr(conv_module, "_per_tap", force)
                else:
                    plans = tap_options(1, cin, 16, 16, cout, 3, 3, (1, 1), acc.geometry)
                    best = min(plans, key=acc.predict_taps)
                    mp.setattr(conv_module, "_per_tap", lambda *a, best=best: best)
                np.testing.assert_array_equal(acc.conv2d(x, w, padding=1), want)
                assert acc.mapping.name == name
                runs[name] = acc.stats
        print(cin, cout, chosen[-1], {k: v.cycles for k, v in runs.items()})
        assert runs[chosen[-1]].cycles == min(r.cycles for r in runs.values())
        assert runs["taps"].bytes_read < 0.4 * runs["patch"].bytes_read
    assert chosen[-1] == "taps"  # the 64-channel layer: per tap
    # the register path has no per-tap mapping
    acc = Accelerator.open("regmodel", dma=False)
    acc.conv2d(x, w, padding=1)
    assert acc.mapping.name == "patch"
