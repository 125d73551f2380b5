"""ci/Jenkinsfile declares the pipeline the README describes, and its shell steps are sound.

Jenkins's declarative linter needs a running Jenkins (`declarative-linter` over its CLI or HTTP API);
none runs here. What is checked: the structure (balanced blocks, the stages and post steps the issue
names, each with the settings that matter) and every `sh` script, with `sh -n` and shellcheck.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

JENKINSFILE = Path(__file__).resolve().parents[2] / "ci" / "Jenkinsfile"


def _text() -> str:
    text = JENKINSFILE.read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def _scripts() -> list[str]:
    return re.findall(r"script: '''(.*?)'''", _text(), re.S)


def test_blocks_balance() -> None:
    code = re.sub(r"'''.*?'''|'[^'\n]*'|\"[^\"\n]*\"", "''", _text(), flags=re.S)  # strings out
    depth = 0
    for ch in code:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    assert code.lstrip().startswith("pipeline {")


def test_it_declares_every_step_a_sign_off_needs() -> None:
    text = _text()
    stages = re.findall(r"stage\('([^']+)'\)", text)
    assert stages == ["Checkout", "Set up", "Run", "Compare"]
    assert "checkout scm" in text
    assert '.venv/bin/swaplab run -i "$INVENTORY"' in text
    assert "SWAPLAB_BMC_PASSWORD = credentials('swaplab-bmc-password')" in text  # from Jenkins credentials
    assert re.search(r"junit\(testResults: 'run/junit.xml', keepProperties: true", text)
    assert re.search(r"archiveArtifacts\(artifacts: 'run/\*\*'", text)
    assert re.search(r"publishHTML\(target: \[reportDir: 'run', reportFiles: 'report.html, compare.html'", text)
    assert re.search(r"copyArtifacts\(projectName: env.JOB_NAME, selector: lastSuccessful\(\)", text)
    assert ".venv/bin/swaplab compare baseline/run run" in text
    # swaplab's exit codes: 1 the kernel failed (unstable), 2 swaplab could not do its job (failure).
    assert "if (rc == 1) {\n                        unstable(" in text and 'error("swaplab could not' in text


def test_every_shell_step_parses_and_passes_shellcheck() -> None:
    scripts = _scripts()
    assert len(scripts) == 2
    for script in scripts:
        r = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        if shutil.which("shellcheck") is None:
            pytest.skip("shellcheck is not installed (make venv installs it)")
        r = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stdout
