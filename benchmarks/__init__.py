"""Benchmarks of handgrad: manual's passes against JAX, PyTorch and the bare GEMMs.

Run with ``pytest benchmarks``; ``python benchmarks/report.py`` turns the JSON into a report.
"""
