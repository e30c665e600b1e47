"""Training methods: ERM and the cures, each a ``Method`` (base.py), made by
``registry.make_method``."""
