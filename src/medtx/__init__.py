"""medtx: MLOps for clinical text."""
__version__ = "0.1.0"
