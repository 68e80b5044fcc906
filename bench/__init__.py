"""Benchmarks (not part of ``make test``): ``make bench`` runs ``bench/login_storm.py``."""
