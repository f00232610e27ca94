"""Backends: how to call a model. See base.py for the protocol and registry.py for lookup."""
