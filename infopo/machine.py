"""What a result was computed on: the CPU model, the vector extension PyTorch's kernels use, the GPU.

Results of small models can depend on the kernels: the IGPO demo's earlier warm start learned to copy unseen names
with AVX-512 kernels and not with AVX2 ones, at the same seed. Model cards and reports therefore name the machine.
"""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; the platform's processor string elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_hardware() -> str:
    """One line: the CPU model, the kernel capability PyTorch dispatches to (``AVX512``, ``AVX2``, ...; set by
    ``ATEN_CPU_CAPABILITY``), and the CUDA device where one is in use."""
    import torch

    text = f"{cpu_model()} (PyTorch CPU kernels {torch.backends.cpu.get_cpu_capability()})"
    if torch.cuda.is_available():
        text += f", {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}"
    return text
