"""Run outputs: JUnit XML for Jenkins, results.json for trends, an HTML page for people."""
