"""hen_demo.pipeline: HEN end to end (encode -> retrieve in latent space -> decode -> score), batched.

```python
from hen_demo.pipeline import HENPipeline, MemoryConfig, RunOptions
pipe = HENPipeline(MemoryConfig(bank, encoder, similarity="l2", beta_relative=1.0))
batch = pipe.run(pipe.encode_images(images), RunOptions(steps=50), targets=ids)   # batch.identity, batch.nn_ceiling
for frame in pipe.stream(pipe.encode_image(img), RunOptions(every=2), target=3): ...  # frame.image, frame.cos_hist
```
"""

from .config import BETA_MAX, MemoryConfig, RunOptions
from .hen import HIST_BINS, HIST_EDGES, HENBatch, HENFrame, HENPipeline, HENResult, SimilarityHistogram
from .masked import MASK_AWARE, mask_aware_run, mask_aware_stream
from .queries import corrupt_query, memory_thumbnails, resize_image, resize_mask

__all__ = ["MemoryConfig", "RunOptions", "BETA_MAX", "HENPipeline", "HENFrame", "HENResult",
           "HENBatch", "SimilarityHistogram", "HIST_BINS", "HIST_EDGES", "corrupt_query", "memory_thumbnails",
           "resize_image", "resize_mask", "MASK_AWARE", "mask_aware_run", "mask_aware_stream"]
