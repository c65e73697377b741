"""srprune.data"""
