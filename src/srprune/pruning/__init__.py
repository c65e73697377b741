"""srprune.pruning"""
