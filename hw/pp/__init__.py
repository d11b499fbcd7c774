"""Post-processing stages: each a stream-in, stream-out block with a stated LATENCY."""
