"""srprune.io"""
