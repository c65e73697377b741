"""srprune.models"""
