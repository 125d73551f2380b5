"""Programs swaplab ships to the blades (standard library only; they run there, not here)."""

from pathlib import Path

AGENT_DIR = Path(__file__).resolve().parent
HOG = AGENT_DIR / "hog.py"
SAMPLER = AGENT_DIR / "sampler.py"
PIN = AGENT_DIR / "pin.py"  # imported by both, shipped beside them
PROGRAMS = (HOG, SAMPLER, PIN)
