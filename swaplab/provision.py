"""`swaplab provision`: validate, check the kernel, then run the playbooks through ansible-runner.

One progress line per task; failures and unreachable hosts are reported with
their host and message. Nothing runs before the inventory and the kernel have
passed validation.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from swaplab import ansible_events, errors, hostkeys, proctree
from swaplab.inventory import STATIC_INVENTORY_ENV, Inventory, InventoryError, load_and_validate, warnings
from swaplab.kernel.under_test import KernelError, resolve
from swaplab.repo import SHARE

Log = Callable[[str], None]


class ProvisionError(errors.Infrastructure):
    """swaplab could not do its job (exit 2)."""


@dataclass
class ProvisionResult:
    ok: bool
    seconds: float
    changed: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    failed_hosts: dict[str, str] = field(default_factory=dict)  # host -> its first failure
    task_seconds: dict[str, float] = field(default_factory=dict)  # "play: task" -> wall time (serial plays)
    mark_seconds: dict[str, float] = field(default_factory=dict)  # a task mark (ansible_events) -> wall time

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())


PLAYBOOKS = SHARE / "playbooks"
# Environment variables that hold a secret by their name, beside those the inventory looks up.
SECRET_NAME_RE = re.compile(r"PASSW(OR)?D|SECRET|TOKEN|CREDENTIAL|_KEY$", re.I)
ENV_LOOKUP_RE = re.compile(r"lookup\(\s*['\"](?:ansible\.builtin\.)?env['\"]\s*,\s*['\"]([A-Za-z_][A-Za-z0-9_]*)['\"]")


def secret_env_names(inventory: Path) -> set[str]:
    """The environment variables an inventory reads with lookup('env', ...), and any named like a secret."""
    names = {n for n in os.environ if SECRET_NAME_RE.search(n)}
    files = [inventory] if inventory.is_file() else [p for p in inventory.rglob("*") if p.is_file()]
    for f in files:
        with contextlib.suppress(OSError):
            names |= set(ENV_LOOKUP_RE.findall(f.read_text(errors="replace")[: 1 << 20]))
    return names


def playbook_path(name: str) -> Path:
    """A playbook of swaplab's, by its name under playbooks/ (nothing else is run)."""
    known = sorted(p.name for p in PLAYBOOKS.glob("*.yml"))
    if name not in known:
        raise ProvisionError(f"--playbook {name!r}: no such playbook; choose one of {', '.join(known)}")
    return PLAYBOOKS / name


def run_playbook(
    playbook: str, inventory: str, extravars: dict[str, Any], log: Log, limit: str | None = None,
    artifacts: Path | None = None,
) -> ProvisionResult:  # fmt: skip
    """Run one of swaplab's playbooks; ``artifacts`` keeps ansible-runner's event stream (it holds no secret)."""
    import ansible_runner

    path = playbook_path(playbook)
    t0 = time.monotonic()
    result = ProvisionResult(ok=False, seconds=0.0)
    starts: list[tuple[str, str, float]] = []  # (play: task, its mark, when it started)

    def on_event(ev: dict[str, Any]) -> bool:
        e = ansible_events.classify(ev)
        if e is None or e.kind == "ignored":
            return True
        if e.kind == "task":
            starts.append((e.task, e.mark, time.monotonic() - t0))
            log(f"[{time.monotonic() - t0:6.1f}s] {e.task}")
        elif e.kind == "failure":
            result.failures.append(e.message)
            result.failed_hosts.setdefault(e.host, e.message)
            log("    ! " + e.message)
        elif e.kind == "changed":
            result.changed[e.host] += 1
        elif e.kind == "booted":
            log(f"    {e.host}: booted, ssh answered after {e.seconds:g} s")
        return True

    # SIGTERM (a Jenkins abort) or ^C: ask ansible-runner to stop its ansible-playbook (it polls
    # cancel_callback and kills its child), then raise KeyboardInterrupt for the caller's clean-up.
    # Dying at once would leave ansible-playbook running against the lab.
    stop: list[int] = []
    signals = (signal.SIGTERM, signal.SIGINT)
    old_handlers = {s: signal.signal(s, lambda signum, _f: stop.append(signum)) for s in signals}
    tree: list[proctree.Proc] = []

    def cancel() -> bool:
        if stop and not tree:
            tree.extend(proctree.descendants(os.getpid()))  # ansible-playbook and its workers, while whole
        return bool(stop)

    venv_bin = str(Path(sys.executable).parent)
    with contextlib.ExitStack() as restore, tempfile.TemporaryDirectory(prefix="swaplab-ansible-") as pdd:
        for s, h in old_handlers.items():
            restore.callback(signal.signal, s, h)
        # ansible-runner writes its child's whole environment into its artifacts: secrets stay out of
        # it, and the guard puts them back (swaplab.guard). os.environ is restored on the way out.
        hidden = {n: os.environ.pop(n) for n in secret_env_names(Path(inventory)) if n in os.environ}
        restore.callback(os.environ.update, hidden)
        secret_fd = os.memfd_create("swaplab-secrets")  # close-on-exec: only the guard reads it, via /proc
        restore.callback(os.close, secret_fd)
        os.write(secret_fd, json.dumps(hidden).encode())
        # ansible-playbook under swaplab.guard: it dies with this process, even a kill -9 of it.
        # ansible-runner finds "ansible-playbook" on the PATH it is given: the guard's comes first.
        guard_bin = Path(pdd) / "guard-bin"
        guard_bin.mkdir()
        guard = guard_bin / "ansible-playbook"
        guard.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -I -m swaplab.guard '
                         f'{shlex.quote(venv_bin + "/ansible-playbook")} "$@"\n')  # fmt: skip
        guard.chmod(0o700)
        r = ansible_runner.run(
            private_data_dir=pdd,
            artifact_dir=str(artifacts) if artifacts else None,
            playbook=str(path),
            inventory=str(Path(inventory).resolve()),
            extravars=extravars,
            limit=limit,
            envvars={
                "ANSIBLE_CONFIG": str(SHARE / "ansible.cfg"),
                # ansible-runner sets this False unless told otherwise, overriding ansible.cfg.
                "ANSIBLE_HOST_KEY_CHECKING": "True",
                "SWAPLAB_SECRET_ENV": str(secret_fd),
                "PATH": os.pathsep.join([str(guard_bin), venv_bin, os.environ.get("PATH", "")]),
                "ANSIBLE_ROLES_PATH": str(SHARE / "roles"),
                "ANSIBLE_LIBRARY": str(SHARE / "plugins" / "modules"),
                **STATIC_INVENTORY_ENV,
            },
            event_handler=on_event,
            cancel_callback=cancel,
            quiet=True,
            timeout=3600,
        )
    if stop:
        proctree.stop(tree)  # the workers ansible-runner's cancel leaves behind (their own sessions)
        raise KeyboardInterrupt(f"signal {stop[0]}: ansible-playbook stopped ({r.status})")
    result.ok = r.rc == 0 and r.status == "successful"
    result.seconds = time.monotonic() - t0
    ends = [t for _, _, t in starts[1:]] + ([result.seconds] if starts else [])
    for (task, task_mark, start), end in zip(starts, ends, strict=True):
        result.task_seconds[task] = result.task_seconds.get(task, 0.0) + end - start
        if task_mark:
            result.mark_seconds[task_mark] = result.mark_seconds.get(task_mark, 0.0) + end - start
    if not result.ok and not result.failures:
        result.failures.append(f"ansible-playbook ended {r.status} (rc {r.rc})")
    return result


def lab_problems(inv: Inventory, blades: list[str] | None = None, provisioned: bool = True) -> list[str]:
    """What stops swaplab from connecting safely: host keys not recorded (the NAS; the blades too when
    provisioning will not record theirs: an unmanaged NAS, or no provisioning)."""
    names = list(inv.blades) if blades is None else blades
    return hostkeys.inventory_problems(inv.raw, inv.nas, names, blades_too=not (provisioned and inv.nas_managed))


def preflight(inventory: str, log: Log, limit: str | None = None, artifacts: Path | None = None) -> None:
    """The power settings of every blade resolve (Vault, environment) and their drivers answer; raise if not."""
    res = run_playbook("preflight.yml", inventory, {}, lambda _m: None, limit=limit, artifacts=artifacts)
    if not res.ok:
        raise ProvisionError("power settings cannot work (nothing was touched):\n  " + "\n  ".join(res.failures))
    log(f"preflight: every blade's power driver answers ({res.seconds:.0f} s)")


def provision(
    inventory: str | Inventory, kernel: str | None, log: Log, playbook: str = "site.yml",
    kvars: dict[str, Any] | None = None, limit: str | None = None, artifacts: Path | None = None,
    extra: dict[str, Any] | None = None,
) -> ProvisionResult:  # fmt: skip
    """Check the inventory (unless given one validated already) and the kernel (unless ``kvars`` holds its
    variables already), reporting every problem at once; then preflight and run ``playbook``."""
    playbook_path(playbook)
    problems: list[str] = []
    inv = inventory if isinstance(inventory, Inventory) else None
    if inv is None:
        try:
            inv = load_and_validate(str(inventory))
        except InventoryError as e:
            problems += e.problems
    if inv is not None:
        for w in warnings(inv.raw):
            log(f"WARNING: {w}")
        problems += lab_problems(inv)
    if kvars is None:
        try:
            under_test = resolve(kernel, log)
        except KernelError as e:
            problems.append(str(e))
        else:
            kvars = under_test.ansible_vars()
            log(f"kernel under test: {under_test.release} ({under_test.path.name})")
    if problems or inv is None or kvars is None:
        raise ProvisionError("cannot provision (nothing was touched):\n  " + "\n  ".join(problems))
    preflight(inv.path, log, limit=limit, artifacts=artifacts / "preflight" if artifacts else None)
    res = run_playbook(playbook, inv.path, {"swaplab_kernel": kvars, **(extra or {})}, log, limit=limit,
                       artifacts=artifacts / Path(playbook).stem if artifacts else None)  # fmt: skip
    log(f"provision {'ok' if res.ok else 'FAILED'} in {res.seconds:.0f} s; changed={res.total_changed} "
        + " ".join(f"{h}={n}" for h, n in sorted(res.changed.items())))  # fmt: skip
    return res
