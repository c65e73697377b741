"""Inference on long inputs: temporal chunks, spatial tiles, frame sources and sinks."""
