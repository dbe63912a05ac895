"""Exceptions the handlers name at import (their batch processors' rejections), kept free of heavy imports."""


class InvalidEvent(ValueError):
    """The event cannot be routed; the message says why, for the logs and the DLQ."""
