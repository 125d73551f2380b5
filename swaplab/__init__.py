"""swaplab: a fleet test framework for swap over NFS on diskless Linux blades."""

__version__ = "0.2.0"
