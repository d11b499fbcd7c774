"""``make bench``: reference layers on the simulated accelerator, measured by its own counters.

Suites (each a module with ``records(acc, rng, target) -> list[Record]``): :mod:`.fc` (fully
connected layers), :mod:`.conv` (the convolution family), :mod:`.conv_taps` (a measured
alternative to im2col), :mod:`.attention` (a causal layer and KV-cache decoding). Every record
is a :class:`~.record.Record`; ``python -m sw.bench`` prints them and writes them as JSON.
"""
