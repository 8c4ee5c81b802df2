"""The version, a leaf: every module that needs it imports it from here, never from the package."""

__version__ = "0.2.0"
