"""Camera capture: one connection per camera (PyAV), shared by consumers that declare their needs."""

from .frame import Frame, Need, Subscription
from .source import StreamInfo, StreamReader

__all__ = ["Frame", "Need", "StreamInfo", "StreamReader", "Subscription"]
