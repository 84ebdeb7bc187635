"""liu (流): a terminal chat client for LLMs that keeps every conversation as markdown."""

__version__ = "0.1.0"
