"""Image conversions and safe file reading, re-exported from the leaf module :mod:`hen_demo.images`
(encoders use that module directly, so they never import ``hen_demo.data``)."""

from hen_demo.images import (
    MAX_SIDE,
    array_to_rgb_uint8,
    check_size,
    load_image_file,
    pil_to_rgb_uint8,
    resize_square,
    to_float_tensor,
    to_uint8,
)

__all__ = ["MAX_SIDE", "array_to_rgb_uint8", "check_size", "load_image_file", "pil_to_rgb_uint8",
           "resize_square", "to_float_tensor", "to_uint8"]
