"""Performance: timing metrics derived from raw timestamps, and the price models behind cost."""
