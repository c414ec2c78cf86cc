"""Small torch-free helpers every stage shares: YAML reading and writing, atomic file writes, and
the formatting of numbers and tables for people.

May import: the standard library, PyYAML, and cnnlab.errors. Nothing else of cnnlab.
"""
