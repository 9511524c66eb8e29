"""DataCompact: trusted data collaboration between government and enterprises.

Raw data stays in its domain; every action lands on a verifiable transparency log.
"""

__version__ = "0.1.0"
