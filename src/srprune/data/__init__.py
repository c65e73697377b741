"""Data layer: MATLAB bicubic (degrade), images, dataset layouts, training samplers, the
embedded synthetic sets and PyAV video I/O. Import the submodules directly."""
