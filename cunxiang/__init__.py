"""The composition root: the ``cunxiang`` command wires the packages together."""
