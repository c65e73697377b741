"""srprune: structured pruning for video and image super-resolution networks."""

__version__ = "0.1.0"
