"""Local stand-ins (real servers) for development, tests and the demo.

Not part of the Function package (.funcignore) and never imported by hrupload.
"""
