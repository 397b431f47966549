"""Tools around the hub, not the hub: the demo (`cityloop demo`), the traffic simulator (`cityloop simulate`),
the benchmark suite (`cityloop bench`), the demo's responsibility matrix and its synthetic boundary layers.

Nothing in the product (hub, dispatch, geo, connectors) imports this package. The `cityloop` command finds these
subcommands through the `cityloop.commands` entry-point group (pyproject.toml; tools.cli), and tests may import
anything here.
"""
