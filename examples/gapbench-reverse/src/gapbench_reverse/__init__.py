"""Example gapbench plugin: the `reverse_words` task and the `oracle` backend."""
