"""Datasets: loading, validating and storing BEIR-format retrieval data."""
