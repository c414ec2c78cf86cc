"""Small torch-free helpers every stage shares: YAML reading and writing, atomic file writes, the
formatting of numbers and tables for people, and the optional dependencies (extras) some features need.

May import: the standard library, PyYAML, and cnnlab.errors. Nothing else of cnnlab.
"""
