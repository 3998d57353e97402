"""hen_demo.memory: the math core (modern Hopfield retrieval, energies, kernels, classical memories).

Public API (contract §1): HopfieldMemory, RetrievalResult, RetrievalStep, LinearKernel, pick_device.
"""

from .devices import pick_device
from .hopfield import HopfieldMemory, RetrievalResult, RetrievalStep
from .separation import parse_separation, separate
from .similarity import SIMILARITY_NAMES, LinearKernel

__all__ = ["HopfieldMemory", "RetrievalResult", "RetrievalStep", "LinearKernel", "pick_device",
           "SIMILARITY_NAMES", "parse_separation", "separate"]
