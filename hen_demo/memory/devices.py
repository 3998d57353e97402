"""Device choice for the memory engine (contract §7).

The math functions never guess a device: callers pass one. This helper is the single place
that picks a default: CUDA when it is present, else CPU.
"""

from __future__ import annotations

import torch


def pick_device(prefer: str | None = None) -> torch.device:
    """Return the device retrieval should run on.

    Args:
        prefer: ``None`` or ``"auto"`` -> CUDA if available, else CPU; ``"cpu"`` -> CPU;
            ``"cuda"`` (or ``"cuda:N"``) -> that GPU, ValueError if no GPU is present.
    """
    if prefer is None or prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not isinstance(prefer, str):
        raise ValueError(f"device must be a string such as 'cpu' or 'cuda', got {prefer!r}.")
    name = prefer.strip().lower()
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("A CUDA device was requested but no GPU is available on this machine; use 'cpu'.")
        try:
            return torch.device(name)
        except RuntimeError as exc:  # e.g. "cuda:x"
            raise ValueError(f"Unknown CUDA device name {prefer!r}.") from exc
    raise ValueError(f"Unknown device {prefer!r}; use 'cpu', 'cuda' or 'auto'.")


def resolve_device_dtype(device, dtype) -> tuple[torch.device, torch.dtype]:
    """Turn user ``device`` / ``dtype`` arguments into torch objects, refusing unsafe combinations.

    float32 is the default everywhere; float64 is allowed anywhere (tests, references);
    bfloat16 / float16 only on a GPU (CPU half-precision matmuls are slow and lose the
    energy's monotonicity to round-off).
    """
    if isinstance(device, torch.device):
        dev = device
    else:
        dev = pick_device(device)
    if dtype is None:
        dt = torch.float32
    elif isinstance(dtype, torch.dtype):
        dt = dtype
    elif isinstance(dtype, str) and dtype in {"float32", "float64", "bfloat16", "float16"}:
        dt = getattr(torch, dtype)
    else:
        raise ValueError(f"Unknown dtype {dtype!r}; use float32, float64, bfloat16 or float16.")
    if dt not in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        raise ValueError(f"dtype {dt} is not supported; use float32 (default), float64, or bfloat16/float16 on a GPU.")
    if dt in (torch.bfloat16, torch.float16) and dev.type != "cuda":
        raise ValueError("bfloat16 and float16 are only supported on a GPU; use float32 on the CPU.")
    return dev, dt
