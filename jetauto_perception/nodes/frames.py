"""An image handed between nodes of one process: received (or captured) and decoded once."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from std_msgs.msg import Header


@dataclass(frozen=True)
class Frame:
    """A decoded BGR image with its header; shared by every node: never modify ``image``."""

    header: Header
    image: np.ndarray
