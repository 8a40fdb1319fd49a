"""Work functions for the engine tests; importable by Ray workers (they run in other processes)."""
from __future__ import annotations

import numpy as np


def zero_phase(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``sosfiltfilt``, which refuses read-only filter coefficients (Cython memoryviews)."""
    from scipy.signal import sosfiltfilt

    return sosfiltfilt(sos, x)


def fail_with(message: str) -> None:
    from imudata.errors import FormatError

    raise FormatError(message)
