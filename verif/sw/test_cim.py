"""sw/cim.py: ADC window calibration, the CNN on the CIM model, the energy table, docs/cim.json."""

import json

import numpy as np
import pytest

import models
import models.conv
from models import cim
from models.cim import CimConfig
from sw import cim as sw_cim

pytestmark = pytest.mark.nosim


def _rng(seed):
    print(f"seed={seed}")
    return np.random.default_rng(seed)


def test_calibration_is_the_least_squares_shift():
    rng = _rng(31)
    x = rng.integers(-128, 128, (40, 32), dtype=np.int8)
    w = rng.integers(-128, 128, (6, 32), dtype=np.int8)
    found = []
    for cfg in (CimConfig(1, 16, 6), CimConfig(4, 8, 5), CimConfig(8, 16, 8),
                CimConfig(2, 16, 6, 2)):
        exact = models.vmm(x, w).astype(np.int64)
        errors = [float(np.sum((cim.cim_vmm(x, w, cfg, s).astype(np.int64) - exact) ** 2.0))
                  for s in range(cim.SHIFT_MAX + 1)]
        best = sw_cim.calibrate_shift(x, w, cfg)
        assert errors[best] == min(errors) and errors.index(min(errors)) == best, cfg
        found.append(best)
    # the signed slices of these narrow ADCs need windows; 2-bit cells fit 6 bits best unshifted
    assert found == [5, 8, 9, 0]


def test_calibration_of_a_wide_adc_is_exact():
    rng = _rng(32)
    x = rng.integers(-128, 128, (10, 20), dtype=np.int8)
    w = rng.integers(-128, 128, (3, 20), dtype=np.int8)
    cfg = CimConfig(1, 16, cim.exact_adc_bits(CimConfig(1, 16)))
    assert sw_cim.calibrate_shift(x, w, cfg) == 0


def test_im2col_order_is_the_weights():
    rng = _rng(33)
    x = rng.integers(-128, 128, (2, 3, 5, 4), dtype=np.int8)
    w = rng.integers(-128, 128, (4, 3, 3, 3), dtype=np.int8)
    cols, (ho, wo) = sw_cim.im2col(x, (3, 3), 1, -7)
    acc = models.vmm(cols, w.reshape(4, -1)) + 7 * w.reshape(4, -1).astype(np.int32).sum(1)
    ref = models.conv.conv2d(x, w, padding=1, input_zero_point=-7)
    np.testing.assert_array_equal(acc.reshape(2, ho, wo, 4).transpose(0, 3, 1, 2), ref)


def test_cim_conv_with_an_exact_adc_is_the_golden_conv():
    rng = _rng(34)
    x = rng.integers(-128, 128, (3, 2, 6, 6), dtype=np.int8)
    w = rng.integers(-128, 128, (5, 2, 3, 3), dtype=np.int8)
    b = rng.integers(-500, 500, 5).astype(np.int32)
    scale = rng.uniform(1e-4, 1e-3, 5)
    kw = dict(padding=1, input_zero_point=-128, scale=scale, zero_point=-128, relu=True,
              max_pool=2)
    for cfg in (CimConfig(2, 16, 14), CimConfig(1, 4, 10, 1)):
        assert cim.exact_adc_bits(cfg) <= cfg.adc_bits
        np.testing.assert_array_equal(sw_cim.conv2d(x, w, b, config=cfg, shift=0, **kw),
                                      models.conv.conv2d(x, w, b, **kw))


def test_cnn_with_exact_adcs_is_the_golden_cnn():
    from sw.nets.digits import QuantizedCNN, load, load_cnn
    x_train, x_test, _, _ = load()
    q = QuantizedCNN.from_float(load_cnn(), x_train)
    cfg = CimConfig(1, 16, cim.exact_adc_bits(CimConfig(1, 16)))
    shifts = sw_cim.calibrate_cnn(q, x_train[:32], cfg)
    assert shifts == {"conv1": 0, "conv2": 0, "fc": 0}
    np.testing.assert_array_equal(sw_cim.run_cnn(q, x_test[:60], cfg, shifts),
                                  q.golden(x_test[:60]))


def test_energy_terms_closed_form():
    gemms = [("a", 10, 20, 3), ("b", 1, 64, 17)]
    vectors = 10 * 2 * 1 + 1 * 4 * 2
    assert sw_cim.array_vectors(gemms) == vectors
    e = {p.name: p.value_pj for p in sw_cim.ENERGY}
    d = sw_cim.energy(gemms, None)
    assert d["total"] == pytest.approx(vectors * 256 * (e["mult8"] + e["add32"]))
    cfg = CimConfig(2, 8, 6, 4)
    c = sw_cim.energy(gemms, cfg)
    conversions = vectors * 16 * 2 * 4 * 2
    assert c["adc"] == pytest.approx(conversions * e["adc_fom"] * 64)
    assert c["shift_add"] == pytest.approx(conversions * e["add32"])
    assert c["rows"] == pytest.approx(vectors * 16 * 4 * e["row"])
    assert c["cells"] == pytest.approx(vectors * 256 * 4 * 2 * e["cell"])
    assert c["total"] == pytest.approx(c["adc"] + c["shift_add"] + c["rows"] + c["cells"])


def test_every_energy_parameter_names_its_source():
    for p in sw_cim.ENERGY:
        assert p.value_pj > 0 and p.source and p.what


@pytest.fixture(scope="module")
def record():
    return json.loads(sw_cim.JSON_PATH.read_text())


def test_docs_cim_json_covers_the_sweep(record):
    main = {(r["bits_per_cycle"], r["adc_bits"]) for r in record["rows"] if r["cell_bits"] == 8}
    assert main == {(b, a) for b in sw_cim.BITS_SWEEP for a in sw_cim.ADC_SWEEP}
    for r in record["rows"]:
        cfg = CimConfig(r["bits_per_cycle"], r["group_rows"], r["adc_bits"], r["cell_bits"])
        assert r["cycles_per_image"] == record["head"]["vectors_per_image"] * (
            8 // r["bits_per_cycle"])
        assert r["adc_conversions"] == cim.counts(record["head"]["vectors_per_image"], 16, 16,
                                                  cfg)["adc_conversions"]


@pytest.mark.parametrize("bits,adc", [(8, 8), (1, 5), (2, 10)])
def test_docs_cim_json_reproduces(record, bits, adc):
    """A few points of the sweep, recomputed: the same windows and the same accuracy."""
    row = next(r for r in record["rows"] if (r["bits_per_cycle"], r["adc_bits"],
                                            r["cell_bits"]) == (bits, adc, 8))
    head, (new,) = sw_cim.sweep(adc_bits=(adc,), bits_per_cycle=(bits,))
    assert new.as_dict() == row
    assert head["digital_accuracy"] == record["head"]["digital_accuracy"]


def test_markdown_and_plot(record, tmp_path):
    text = sw_cim.markdown(record)
    assert "| 1 | " in text and "TOPS/W" in text
    sw_cim.plot(record, tmp_path / "cim.png")
    assert (tmp_path / "cim.png").read_bytes()[:4] == b"\x89PNG"


def test_readme_section_is_generated_from_docs_cim_json(record):
    from hw.spec.markdown import replace_section
    text = (sw_cim.ROOT / "README.md").read_text()
    assert replace_section(text, *sw_cim.README_SECTION, sw_cim.markdown(record)) == text, \
        "README.md's CIM section is stale: run `make docs`"


def test_measured_cycles(record):
    """The register model's cycles per image: the CIM build at 8 bits per cycle times like the
    digital one (one vector per cycle, the same latency at 16 rows); one point recomputed."""
    measured = record["head"]["measured_cycles_per_image"]
    assert measured["8"] == measured["None"]
    assert measured["1"] > measured["2"] > measured["4"] > measured["8"]
    assert sw_cim.measured_cycles(2) == measured["2"]
