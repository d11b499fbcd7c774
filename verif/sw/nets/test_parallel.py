"""sw.nets.parallel: a network's accelerator calls run in parallel, from the golden model's
activations, in local processes and on a local Dask cluster (issue 11): every call equals the
golden model, and the calls' records are the serial run's (the same cycles, call by call)."""

import pytest

from sw import Accelerator
from sw.nets import parallel, zoo
from sw.onnx import load

pytestmark = pytest.mark.nosim


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    seed = 5
    print(f"seed={seed}")
    model = zoo.NETS["resnet18"](32, 0.25, 100, seed=seed)
    data = zoo.calibration(32, 17, seed + 1)
    net = load(zoo.quantize(model, data[:16], tmp_path_factory.mktemp("q") / "qdq.onnx"))
    x = data[16:]
    layers = []
    with Accelerator.open("regmodel") as acc:
        net.run(acc, x, layers=layers)
    return net, x, layers


def _check_against_serial(result, serial):
    assert result.all_equal and len(result.equal) == len(serial)
    assert [(la.name, la.call, la.in_shape, la.out_shape, la.macs) for la in result.layers] == \
        [(la.name, la.call, la.in_shape, la.out_shape, la.macs) for la in serial]
    # the same plans on the same data: the same cycles, call by call
    assert [la.stats.cycles for la in result.layers] == [la.stats.cycles for la in serial]
    assert "31 accelerator calls" in zoo.report(result.layers)


def test_calls_are_the_inference_and_its_golden_outputs(resnet):
    net, x, serial = resnet
    calls = net.calls(x)
    assert [c.name for c in calls] == [la.name for la in serial]
    # the last call's golden output, dequantized by the graph, is the network's output
    with Accelerator.open("regmodel") as acc:
        y, layer = calls[-1].run(acc)
    assert (y == calls[-1].golden).all() and layer.name == serial[-1].name


def test_local_processes(resnet):
    net, x, serial = resnet
    result = parallel.run_calls(net.calls(x), "regmodel", workers=2)
    print(result.engine, f"{result.wall_s:.1f} s")
    assert result.engine == "2 local processes"
    _check_against_serial(result, serial)


def test_dask_local_cluster(resnet):
    from dask import distributed  # (the cluster extra, part of dev)
    net, x, serial = resnet
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        result = parallel.run_calls(net.calls(x), "regmodel", address=cluster.scheduler_address)
    print(result.engine, f"{result.wall_s:.1f} s")
    assert result.engine.startswith("dask at tcp://")
    _check_against_serial(result, serial)
