"""hen_demo.pipeline: HEN end to end (encode -> retrieve in latent space -> decode -> score), batched.

```python
from hen_demo.pipeline import HENPipeline, MemoryConfig, RunOptions
pipe = HENPipeline(MemoryConfig(bank, encoder, similarity="l2", beta_relative=1.0))
batch = pipe.run(pipe.encode_images(images), RunOptions(steps=50), targets=ids)   # batch.identity, batch.nn_ceiling
for frame in pipe.stream(pipe.encode_image(img), RunOptions(every=2), target=3): ...  # frame.image, frame.cos_hist
# mask-aware (raw pixels): the similarity sees only the visible pixels, which are held at the query
pipe = HENPipeline(MemoryConfig(bank, pixels, similarity=MASK_AWARE))
batch = pipe.run(queries, RunOptions(visible=pipe.visible_dims(hidden)), targets=ids)   # hidden (B, H, W) bool
```
"""

from .config import BETA_MAX, MASK_AWARE, MemoryConfig, RunOptions
from .hen import HIST_BINS, HIST_EDGES, HENBatch, HENFrame, HENPipeline, HENResult, SimilarityHistogram
from .queries import corrupt_query, memory_thumbnails, resize_image, resize_mask

__all__ = ["MemoryConfig", "RunOptions", "BETA_MAX", "HENPipeline", "HENFrame", "HENResult",
           "HENBatch", "SimilarityHistogram", "HIST_BINS", "HIST_EDGES", "corrupt_query", "memory_thumbnails",
           "resize_image", "resize_mask", "MASK_AWARE"]
