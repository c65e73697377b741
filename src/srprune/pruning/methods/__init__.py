"""srprune.pruning.methods"""
