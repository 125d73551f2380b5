"""Kernel-log detectors: one pattern table, an incremental parser, a file scanner."""

from swaplab.detect.detector import Detector, Finding
from swaplab.detect.rules import KINDS, RULES
from swaplab.detect.scan import ScanResult, scan_path, scan_stream, summarize

__all__ = ["KINDS", "RULES", "Detector", "Finding", "ScanResult", "scan_path", "scan_stream", "summarize"]
