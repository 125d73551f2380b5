"""ci/Jenkinsfile declares the pipeline the README describes, and its shell steps are sound.

Jenkins's declarative linter needs a running Jenkins (`declarative-linter` over its CLI or HTTP API);
none runs here. What is checked: the file parses as Groovy (npm-groovy-lint, CodeNarc on the local JDK,
which `tox -e lint` runs too, and which must fail on a planted syntax error), the structure (the stages
and post steps the issue names, each with the settings that matter) and every `sh` script, with `sh -n`
and shellcheck.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

JENKINSFILE = Path(__file__).resolve().parents[2] / "ci" / "Jenkinsfile"
GROOVY_LINT = Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules" / ".bin" / "npm-groovy-lint"


def _groovy_lint(path: Path) -> subprocess.CompletedProcess[str]:
    # --noserver: CodeNarc in this process's child, not a server left running on a port
    return subprocess.run([str(GROOVY_LINT), "--noserver", "--failon", "error", "--output", "txt", str(path)],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


@pytest.mark.skipif(not GROOVY_LINT.exists(), reason="npm-groovy-lint not installed: `make lint-deps`")
def test_the_jenkinsfile_parses_as_groovy_and_a_planted_error_fails(tmp_path: Path) -> None:
    ok = _groovy_lint(JENKINSFILE)
    assert ok.returncode == 0, ok.stdout[-2000:]
    planted = tmp_path / "Jenkinsfile"
    planted.write_text(JENKINSFILE.read_text().replace("stages {", "stages {{", 1))  # one brace too many
    bad = _groovy_lint(planted)
    assert bad.returncode == 1 and "error" in bad.stdout.lower(), bad.stdout[-2000:]


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
    assert re.match(r"(def RACKS = \[[^\]]*\]\s*)?pipeline \{", code.lstrip())


def test_it_declares_a_rack_matrix_and_one_sign_off() -> None:
    text = _text()
    stages = re.findall(r"stage\('([^']+)'\)", text)
    assert stages == ["Racks", "Run", "Sign-off"]
    # The racks: one list for the sign-off, the same literal values in the matrix's axis.
    racks = re.findall(r"'([^']+)'", re.search(r"def RACKS = \[(.*?)\]", text).group(1))  # type: ignore[union-attr]
    axis = re.search(r"axis \{\s*name 'RACK'\s*values (.*?)\n", text)
    assert axis is not None and re.findall(r"'([^']+)'", axis.group(1)) == racks and racks
    # Each cell: its rack's agent, a lock of its own, its inventory, its run stashed under the rack's name.
    assert 'agent { label "swaplab-${RACK}" }' in text and 'lock(resource: "swaplab-rack-${RACK}")' in text
    assert '.venv/bin/swaplab run -i "inventories/$RACK/hosts.yml"' in text and 'cp -r "$dir" "racks/$RACK"' in text
    assert 'stash(name: "rack-${RACK}", includes: "racks/${RACK}/**"' in text
    assert "SWAPLAB_BMC_PASSWORD = credentials('swaplab-bmc-password')" in text  # from Jenkins credentials
    assert 'error("rack ${RACK}' in text and "catchError(buildResult: 'FAILURE', stageResult: 'FAILURE')" in text
    # The sign-off: every rack unstashed if there, merged with all of them expected (a missing one is an error).
    assert 'unstash(name: "rack-${rack}")' in text and "withEnv([\"RACKS=${RACKS.join(' ')}\"])" in text
    assert '.venv/bin/swaplab merge $present -o fleet --expect "${expect#,}"' in text
    assert re.search(r"junit\(testResults: 'fleet/junit.xml', keepProperties: true", text)
    assert re.search(r"archiveArtifacts\(artifacts: 'fleet/\*\*'", text)
    assert re.search(r"publishHTML\(target: \[reportDir: 'fleet', reportFiles: 'report.html, compare.html'", text)
    assert re.search(r"copyArtifacts\(projectName: env.JOB_NAME, selector: lastSuccessful\(\)", text)
    assert ".venv/bin/swaplab compare baseline/fleet fleet" in text
    # swaplab's exit codes: 1 the kernel failed (unstable), 2 swaplab could not do its job (failure).
    assert "unstable('a regression since last night" in text and 'error("the fleet cannot be' in text
    # The history: its URL and password from Jenkins credentials, never on a command line.
    assert "SWAPLAB_HISTORY = credentials('swaplab-history-url')" in text
    assert "SWAPLAB_HISTORY_PASSWORD = credentials('swaplab-history-password')" in text


def test_the_sign_off_script_merges_what_is_there_and_expects_every_rack(tmp_path: Path) -> None:
    """The merge step's shell, run here with a fake swaplab: the racks present are passed, all are expected."""
    merge = next(s for s in _scripts() if "swaplab merge" in s)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    fake = tmp_path / ".venv" / "bin" / "swaplab"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    (tmp_path / "racks" / "rack2").mkdir(parents=True)
    notify = tmp_path / "notify"
    notify.write_text("mailto://x\n")
    env = {"RACKS": "rack1 rack2 rack3", "PATH": "/usr/bin:/bin", "LABEL": "v6.1-rc3", "KERNEL_COMMIT": "abc123",
           "SWAPLAB_NOTIFY_FILE": str(notify)}  # fmt: skip
    r = subprocess.run(["sh", "-c", merge], cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    tonight = ["--history-lab", "fleet", "--label", "v6.1-rc3", "--kernel-commit", "abc123", "--notify", str(notify)]
    assert r.returncode == 0 and r.stdout.split() == ["merge", "rack2=racks/rack2", "-o", "fleet", "--expect",
                                                      "rack1,rack2,rack3", *tonight]  # fmt: skip


def test_every_shell_step_parses_and_passes_shellcheck() -> None:
    scripts = _scripts()
    assert len(scripts) == 3
    for script in scripts:
        r = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        if shutil.which("shellcheck") is None:
            pytest.skip("shellcheck is not installed (make venv installs it)")
        r = subprocess.run(["shellcheck", "-s", "sh", "-"], input=script, capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stdout
