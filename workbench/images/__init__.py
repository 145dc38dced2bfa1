"""Images as data: listing folders of pictures, decoding them to fixed-size pixels, augmenting batches.

A library like ``workbench.tabular``: it knows nothing of nodes or graphs. Pillow decodes (in threads: it
releases the GIL), Kornia augments batches on the training device. Both are imported only when used.
"""

from __future__ import annotations

IMAGES_ATTR = "workbench.images"  # DataFrame.attrs key: the image settings of a table made by data.images
