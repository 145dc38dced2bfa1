"""The training engine: models, the in-memory training loop, callbacks, checkpoints and transfer learning.

A library that knows nothing of nodes or graphs; ``workbench.nodes.model`` and ``workbench.nodes.train``
are thin adapters over it. Importing this package imports torch.
"""
