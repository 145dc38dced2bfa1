"""Tables in, tensors out: reading, cleaning, splitting and fitted preprocessing, with no knowledge of graphs.

Submodules import pandas/numpy; import them where needed (node modules import them inside ``run``).
"""
