"""Catalog: which models exist, what they are, and where their weights come from."""
