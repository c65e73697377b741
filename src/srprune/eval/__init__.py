"""srprune.eval"""
