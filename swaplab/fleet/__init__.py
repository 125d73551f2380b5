"""The fleet side of a run: reaching blades, running loads on them, judging and reporting the results."""
