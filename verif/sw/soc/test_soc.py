"""The RISC-V system (hw/soc/, sw/soc/): the firmware classifies digits on PicoRV32, with and
without the accelerator, and prints exactly the golden model's logits."""

import json
import pathlib

import numpy as np
import pytest

from hw.spec import Geometry
from hw.spec.markdown import replace_section
from sw.nets import digits
from sw.soc import __main__ as soc_main
from sw.soc import build, mlp

ROOT = pathlib.Path(__file__).resolve().parents[3]
#: the smallest accelerator the firmware runs on (the system builds in about a minute): CI
SMALL = Geometry(4, 4, 2, 32, 16, 16)
IMAGES = 2


@pytest.mark.nosim
def test_golden_is_the_quantized_mlp():
    """mlp.golden's int32 logits are sw.nets.digits.QuantizedMLP.golden's, unscaled."""
    _, x_test, _, y_test = digits.load()
    expected = mlp.golden(8)
    q = mlp.network()
    np.testing.assert_array_equal(expected.logits * q.logit_scale, q.golden(x_test[:8]))
    np.testing.assert_array_equal(expected.labels, y_test[:8])
    assert expected.logits.dtype == np.int32


@pytest.mark.nosim
@pytest.mark.parametrize("mode", list(build.MODES))
def test_firmware_builds_freestanding(mode):
    """rv32im, no C library (-nostdlib; libgcc only), the image fits the RAM with its stack."""
    fw = build.firmware(mode, IMAGES)
    image = fw.elf.with_suffix(".bin").read_bytes()
    assert 0 < len(image) < build.RAM_BYTES // 2
    words = fw.hex(128).read_text().split()
    assert len(words) == -(-len(image) // 16) and all(len(w) == 32 for w in words)
    # bytes little-endian within a word: the first instruction is the first word's low bytes
    assert bytes.fromhex(words[0])[::-1][:4] == image[:4]


@pytest.mark.nosim
def test_parse_output():
    out = ("pimacc soc: digits MLP, mode linear\nsetup cycles 12\n"
           "image 0 label 2 predicted 2 cycles 100 accelerator 7 logits -1 2 3\n"
           "image 1 label 0 predicted 1 cycles 300 accelerator 9 logits 4 -5 6\n"
           "cycles per inference 200\nbatch 2 cycles 80 accelerator 10 per image 40\ndone\n")
    run = build.parse_output("linear", 0, out, "pimacc_soc: finish after 999 cycles, 0.1 s, 1 "
                             "cycles/s\n")
    assert run.labels == (2, 0) and run.predicted == (2, 1)
    assert run.logits == ((-1, 2, 3), (4, -5, 6)) and run.accelerator_cycles == (7, 9)
    assert run.cycles_per_inference == 200 and run.setup_cycles == 12 and run.cycles == 999
    assert run.batch_cycles == 80 and run.batch_accelerator_cycles == 10


@pytest.mark.nosim
def test_readme_table_is_generated_from_docs_soc_json():
    data = json.loads((ROOT / "docs" / "soc.json").read_text())
    text = (ROOT / "README.md").read_text()
    assert replace_section(text, *soc_main.SECTION, soc_main.markdown(data)) == text, \
        "README.md's RISC-V system table is stale: run `make soc`"
    assert all(r["golden"] for r in data["records"])


@pytest.fixture(scope="module")
def small_system():
    return build.build(SMALL)


@pytest.mark.layer
@pytest.mark.parametrize("mode", list(build.MODES))
def test_soc_classifies_like_the_golden_model(small_system, mode):
    fw = build.firmware(mode, IMAGES)
    run = small_system.run(fw, max_cycles=20_000_000, profile=True)
    expected = mlp.golden(IMAGES)
    assert run.exit_code == 0, run.output
    np.testing.assert_array_equal(np.array(run.logits, dtype=np.int32), expected.logits)
    assert list(run.predicted) == expected.predicted.tolist()
    assert soc_main.check(run, expected) == []
    if mode == "cpu":
        assert run.accelerator_cycles == (0,) * IMAGES
    else:
        assert all(0 < a < c for a, c in zip(run.accelerator_cycles, run.image_cycles,
                                             strict=True))
    if mode == "linear":
        assert run.batch_cycles is not None
    # the profile covers the images (and the counter reads around them), in the firmware's code
    profiled, measured = sum(run.profile.values()), sum(run.image_cycles)
    assert measured <= profiled <= measured + 100 * IMAGES, (profiled, measured)
    by_function = build.functions(fw.elf, run.profile)
    assert sum(by_function.values()) == profiled and "?" not in by_function
    assert next(iter(by_function)) in ("forward", "run_layer", "pimacc_linear_load")


@pytest.mark.layer
def test_soc_stops_at_the_cycle_limit(small_system):
    """A run that does not finish in time ends with exit code 103, not a hang."""
    run = small_system.run(build.firmware("cpu", IMAGES), max_cycles=20_000)
    assert run.exit_code == 103 and run.cycles == 20_000 and run.logits == ()
    assert soc_main.check(run, mlp.golden(IMAGES))[0] == "exit code 103"


@pytest.mark.slow
def test_soc_default_geometry_speedup():
    """The `make soc` run (16x16, 8 images): the linear firmware beats the core alone."""
    records, problems = soc_main.measure(Geometry.default(), 8, log=lambda *_: None)
    assert problems == []
    cycles = {(r.mode, r.batch): r.cycles_per_inference for r in records}
    assert cycles[("linear", 1)] < cycles[("cpu", 1)]
