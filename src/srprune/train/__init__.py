"""srprune.train"""
