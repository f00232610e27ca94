"""gapbench: measure the gap between language models instead of asserting it.

Only light re-exports live here: `import gapbench` must stay fast.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
