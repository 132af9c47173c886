"""ugoku (動く, "it moves"): bring a portrait to life from a driving video, on a plain CPU.

The public entry points live in `ugoku.api`; importing this package is cheap and loads no model.
"""

__version__ = "0.1.0"
