"""`cityloop bench` (tools/bench/suite.py): the benchmark suite, run as a `cityloop.commands` plugin."""
