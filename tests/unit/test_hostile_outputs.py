"""Nothing a console prints costs a run its outputs, outputs are written whole and
never through a link, inventories run no template but the documented credentials, and no message prints a
secret. Each test fails on the code before the fix (named in its docstring)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from swaplab.inventory import InventoryError, load
from swaplab.records import FindingRecord
from swaplab.report import junit
from swaplab.report.model import BladeResult, Case
from swaplab.report.outputs import write_outputs
from swaplab.report.results import KernelRecord, RunResult
from swaplab.textsafe import visible, xml_text

from .test_inventory import GOOD, _bin, _problems

XSD = Path(__file__).resolve().parents[2] / "swaplab" / "report" / "junit-10.xsd"
# What a blade can print: a process named U+FFFE (prctl), a lone surrogate (surrogateescape of a bad
# byte), ESC and BEL, a C1 CSI, NUL, and a forged line.
GARBAGE = "comm=\ufffe\uffff hog \udc80\x1b[31m\x07\x9b2J\x00\nverdict: pass"


def _hostile_run() -> RunResult:
    finding = FindingRecord(kind="oops", severity="fail", text=GARBAGE, source="blade1:console", line=1,
                            excerpt=GARBAGE)  # fmt: skip
    case = Case("blade1", "hog", f"test_hog[t1-nfs{GARBAGE[:8]}]", "failed", 1.0, message=GARBAGE, details=GARBAGE,
                records=[finding])  # fmt: skip
    b = BladeResult("blade1", cases=[case], properties={"kernel.release": GARBAGE})
    return RunResult(exit_code=1, kernel=KernelRecord(release="6.1.0-57-amd64"), blades=[b])


def test_a_console_printing_anything_costs_no_output(tmp_path: Path) -> None:
    """Before: ET.tostring raised UnicodeEncodeError on the lone surrogate: no junit.xml, results.json or page;
    U+FFFE passed into junit.xml, which then was not well-formed XML."""
    logged: list[str] = []
    write_outputs(tmp_path, _hostile_run(), logged.append)
    xml = (tmp_path / "junit.xml").read_bytes()
    assert junit.validate(xml, XSD) is None, logged
    assert "\\ufffe" in xml.decode() and "\\udc80" in xml.decode() and "\\x1b" in xml.decode()
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["exit_code"] == 1 and doc["verdict"] == "kernel failure"
    page = (tmp_path / "report.html").read_bytes()
    assert len(page) > 1000 and b"kernel failure" in page
    assert not [m for m in logged if "could not be written" in m]


def test_one_output_failing_costs_only_that_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: an exception in the JUnit writer ended the run with a traceback before results.json was written."""

    def broken(_blades: list[BladeResult]) -> bytes:
        raise RuntimeError("the JUnit writer broke")

    monkeypatch.setattr(junit, "render", broken)
    logged: list[str] = []
    write_outputs(tmp_path, _hostile_run(), logged.append)
    assert (tmp_path / "results.json").is_file() and (tmp_path / "report.html").stat().st_size > 1000
    assert not (tmp_path / "junit.xml").exists()
    assert logged == ["WARNING: junit.xml could not be written (RuntimeError: the JUnit writer broke)"]


@pytest.mark.parametrize("name", ["junit.xml", "results.json", "report.html"])
def test_outputs_are_never_written_through_a_planted_link(tmp_path: Path, name: str) -> None:
    """Before: write_bytes/write_text followed a symlink planted in the run directory (Jenkins copies them)."""
    run_dir, victim = tmp_path / "run", tmp_path / "authorized_keys"
    run_dir.mkdir()
    victim.write_text("ssh-ed25519 AAAA the owner's key\n")
    (run_dir / name).symlink_to(victim)
    write_outputs(run_dir, _hostile_run(), lambda _m: None)
    assert victim.read_text() == "ssh-ed25519 AAAA the owner's key\n"
    assert (run_dir / name).is_file() and not (run_dir / name).is_symlink()
    assert not [p for p in run_dir.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind


def test_a_non_finite_figure_is_null_not_invalid_json(tmp_path: Path) -> None:
    run = _hostile_run()
    run.timings_s["total"] = float("inf")
    run.save(tmp_path / "results.json")
    assert json.loads((tmp_path / "results.json").read_text())["timings_s"]["total"] is None


def test_text_made_safe_for_xml_and_for_a_terminal() -> None:
    assert xml_text("a\x00b\ufffec\ud800\u00e9\U0001f600\t\n") == "a\\x00b\\ufffec\\ud800\u00e9\U0001f600\t\n"
    assert visible("ok\x1b[2J\x9b\x7f\ttab\nline") == "ok\\x1b[2J\\x9b\\x7f\ttab\nline"
    assert visible("name\nverdict: fit", one_line=True) == "name\\x0averdict: fit"


# --- inventories: templates and secrets ---------------------------------------------------------------

ENV = "{{ lookup('ansible.builtin.env', 'SWAPLAB_BMC_PASSWORD') }}"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ({"ansible_ssh_common_args": "{% for x in lookup('pipe', 'id') %}{% endfor %}"},
         "ansible_ssh_common_args is a template"),
        ({"ansible_ssh_common_args": "{# a comment is Jinja too #}"}, "ansible_ssh_common_args is a template"),
        ({"swaplab_console": {"driver": "file", "path": "/var/log/{% set x = 1 %}c.log"}},
         "swaplab_console.path is a template"),
        ({"swaplab_power": {"driver": "qmp", "socket": "/run/{% if 1 %}x{% endif %}.qmp"}},
         "power setting socket is a template"),
        ({"swaplab_power": {"driver": "ipmi", "host": "bmc1", "user": "admin",
                            "password": "{{ lookup('pipe', 'cat /etc/shadow') }}"}},
         "power setting password is a template of a form swaplab does not run"),
        ({"swaplab_power": {"driver": "ipmi", "host": "bmc1", "user": "admin",
                            "password": ENV + "{% set y = 2 %}"}}, "of a form swaplab does not run"),
        ({"swaplab_power": {"driver": "ipmi", "host": "bmc1", "password": ENV,
                            "user": "{{ vault_user | default(lookup('pipe', 'id')) }}"}},
         "power setting user is a template of a form"),
        ({"swaplab_extra": ["ok", {"deep": "{{ 7 * 7 }}"}]}, "swaplab_extra[1].deep is a template"),
    ],
)  # fmt: skip
def test_every_jinja_construct_outside_the_documented_credentials_is_refused(override: dict[str, Any],
                                                                             needle: str) -> None:  # fmt: skip
    """Before: only ``{{`` was a template, and only at the top of a host's vars: ``{% %}`` ran in the preflight."""
    assert needle in _problems(GOOD | override)


@pytest.mark.parametrize(
    "password",
    [
        ENV,
        '{{ lookup("env", "PW") }}',
        "{{ vault_bmc_password }}",
        "{{vault_pw}}",
        {"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256\n61\n"},
    ],
)
def test_the_documented_credential_forms_are_accepted(password: object) -> None:
    power = {"driver": "ipmi", "host": "bmc1", "user": "admin", "password": password}
    assert _problems(GOOD | {"swaplab_power": power}) == ""


def test_a_password_in_a_redfish_url_is_not_echoed() -> None:
    """Before: the URL was printed whole in the refusal, password included."""
    for url in ("http://root:s3cr3t-pw@bmc1/redfish", "ftp://root:s3cr3t-pw@bmc1", "https://root:s3cr3t-pw@bmc1:x/"):
        power = {"driver": "redfish", "url": url, "user": "u", "password": ENV}
        text = _problems(GOOD | {"swaplab_power": power})
        assert "redfish url" in text and "s3cr3t-pw" not in text, text


@pytest.mark.parametrize(
    "line", ["b1 ansible_host=10.0.0.1 swaplab_pw= s3cr3t-pw", 'b1 ansible_host=10.0.0.1 "swaplab_pw=s3cr3t-pw']
)
def test_an_ini_parse_error_does_not_echo_the_token(tmp_path: Path, line: str) -> None:
    """Before: 'Expected key=value host variable assignment, got: <the token>' and the whole host line."""
    bad = tmp_path / "hosts.ini"
    bad.write_text(f"[blades]\n{line}\n")
    with pytest.raises(InventoryError) as e:
        load(str(bad), str(Path(_bin()) / "ansible-inventory"))
    assert "cannot be parsed" in str(e.value) and "s3cr3t-pw" not in str(e.value), str(e.value)
