"""Image and text encoders behind one interface, and their registry (contract §2).

```python
from hen_demo.encoders import list_image_encoders, get_image_encoder
enc = get_image_encoder("pixels")        # always available (28×28×3 = 2352 raw pixels)
enc = get_image_encoder("vq-small")      # shipped offline: vq-small, kl-small, dvae-small (32×32 in, K = 2048)
# the papers' models when weights are reachable: kl-f8, vq-f8, vq-f16, kl-f16 (diffusers), dvae (DALL-E),
# and taesd (a fast approximation of kl-f8)
codes = enc.encode(images)               # (B, 3, H, W) in [0, 1] -> (B, K)
recon = enc.decode(codes)                # (B, K) -> (B, 3, s, s) in [0, 1]
```
"""

from hen_demo.encoders.base import EncoderInfo, EncoderUnavailable, ImageEncoder, TextEncoder
from hen_demo.encoders.registry import (
    IMAGE_ENCODERS,
    TEXT_ENCODERS,
    get_image_encoder,
    get_text_encoder,
    list_image_encoders,
    list_text_encoders,
)

__all__ = [
    "EncoderInfo", "EncoderUnavailable", "ImageEncoder", "TextEncoder", "IMAGE_ENCODERS", "TEXT_ENCODERS",
    "get_image_encoder", "get_text_encoder", "list_image_encoders", "list_text_encoders",
]
