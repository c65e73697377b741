"""Orchestration: staged pruning runs (SSL family, FMP), their reports and the experiment runner.

This layer sits above the pruning core (``srprune.pruning``), models, io and training; nothing
below it imports it, and it never imports the command line (``srprune.commands``).
"""
