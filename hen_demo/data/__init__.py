"""Datasets, query corruptions and cached memory banks (contract §3).

```python
from hen_demo.data import load_dataset, build_bank, corrupt
ds = load_dataset("tiles", n=1000, seed=0)          # ds.images uint8 (N, 64, 64, 3), ds.captions, ds.ids
bank = build_bank("tiles", "vq-small", n=1000)      # bank.codes (N, K) = the memories Ξ, bank.recon, ...
q = corrupt(images, kind="occlude-bottom", amount=0.5)
```
"""

from hen_demo.data.banks import MemoryBank, bank_cache_key, build_bank, load_bank
from hen_demo.data.corruptions import CORRUPTIONS, corrupt
from hen_demo.data.datasets import DatasetInfo, ImageDataset, list_datasets, load_dataset
from hen_demo.data.images import load_image_file, to_float_tensor, to_uint8

__all__ = [
    "MemoryBank", "bank_cache_key", "build_bank", "load_bank", "CORRUPTIONS", "corrupt", "DatasetInfo",
    "ImageDataset", "list_datasets", "load_dataset", "load_image_file", "to_float_tensor", "to_uint8",
]
