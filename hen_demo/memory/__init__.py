"""hen_demo.memory: the math core of HEN Explorer.

Modern Hopfield retrieval (HEN eq. 2/6; U-Hop eq. 1.2, 2.4) with its energies (HEN eq. 1; U-Hop eq. 2.2),
the kernel memory network (HEN eq. 3), U-Hop's learned kernel and layer (U-Hop Alg. 1-2), and the
classical memories (``hen_demo.memory.classical``). Public API (contract §1):

    HopfieldMemory, RetrievalResult, RetrievalStep, LinearKernel, pick_device, calibrated_beta, BETA_MAX,
    KernelMemoryNetwork, fit_uhop_kernel, UHopFit, separation_loss, exact_retrieval_condition,
    uhop_memory, UHopLayer, and the classical memories (HebbianHopfield, CorrelationMemory,
    DenseAssociativeMemory, capacity helpers)
"""

from .calibration import calibrated_beta
from .classical import (
    CorrelationMemory,
    DenseAssociativeMemory,
    HebbianHopfield,
    HopfieldTrace,
    capacity_curve,
    classify_state,
    measure_recall,
    recall_fraction,
)
from .devices import pick_device
from .hopfield import BETA_MAX, HopfieldMemory, RetrievalResult, RetrievalStep
from .kmn import KernelMemoryNetwork
from .separation import parse_separation, separate
from .similarity import SIMILARITY_NAMES, LinearKernel
from .uhop import UHopFit, exact_retrieval_condition, fit_uhop_kernel, separation_loss, uhop_memory
from .uhop_layer import UHopLayer

__all__ = [
    "HopfieldMemory", "RetrievalResult", "RetrievalStep", "LinearKernel", "pick_device", "calibrated_beta", "BETA_MAX",
    "SIMILARITY_NAMES", "parse_separation", "separate",
    "KernelMemoryNetwork", "UHopFit", "exact_retrieval_condition", "fit_uhop_kernel", "separation_loss",
    "uhop_memory", "UHopLayer",
    # classical memories for teaching (slides 002)
    "CorrelationMemory", "DenseAssociativeMemory", "HebbianHopfield", "HopfieldTrace", "capacity_curve",
    "classify_state", "measure_recall", "recall_fraction",
]
