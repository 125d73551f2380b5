"""The lab's hooks for the blade sessions (``swaplab.fleet.hooks.LabHooks``), built from a run's settings.

Above both the fleet and the lab: the suites' conftest calls ``for_settings`` and hands the hooks to each
``BladeSession``, which then power-cycles a hung blade through the provisioning's recovery playbook,
measures the host's load on a virtual blade, and injects `run --fault`'s fault, without importing any of it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from swaplab.drivers.protocols import ConsoleProtocol
from swaplab.fleet.hooks import ArmedFault, HostLoadProbe, LabHooks
from swaplab.fleet.remote import Remote
from swaplab.fleet.settings import Settings


def _running_hog(load_dir: str, also: str = "true", wait_s: int = 90) -> str:
    """Shell that sets ``$p`` to the pid of the hog running in ``load_dir`` once its pid file names a
    running hog and ``also`` holds, waiting ``wait_s`` seconds at most (``$p`` empty then). A pid file left
    by an earlier trial of the same name (the blade's root is on the NAS, it outlives a reboot) names no
    running hog: its pid is never used, whatever now holds it."""
    return (
        f"i=0; p=; while [ $i -lt {int(wait_s)} ]; do p=$(cat {load_dir}/hog.pid 2>/dev/null); "
        f'[ -n "$p" ] && [ "$p" -gt 1 ] 2>/dev/null && grep -q hog.py "/proc/$p/cmdline" 2>/dev/null && {also} '
        "&& break; p=; sleep 1; i=$((i + 1)); done;"
    )


def for_settings(settings: Settings) -> LabHooks:
    def reprovision(blade: str, local_dir: Path, progress: Callable[[str], None]) -> tuple[bool, str]:
        """The boot and swap plays for this blade alone, with a forced power-cycle: (ok, why not)."""
        from swaplab.provision import ProvisionError, provision

        kernel = settings.kernel
        if kernel is None:
            return False, "the run's context names no kernel under test to boot the blade into"
        try:
            res = provision(settings.inv(), str(kernel.path), progress, playbook="recover.yml",
                            kvars=kernel.ansible_vars(), limit=blade, artifacts=local_dir / "recovery",
                            extra={"blade_boot__force": True})  # fmt: skip
        except (ProvisionError, KeyboardInterrupt) as e:
            return False, str(e)
        return res.ok, "; ".join(res.failures)[:500]

    def host_load(blade: str) -> HostLoadProbe | None:
        """A virtual blade's QEMU and the host under it."""
        from swaplab.lab.hostload import HostLoad
        from swaplab.lab.paths import LabPaths

        try:
            pid = int((LabPaths.default().run / f"{blade}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        return HostLoad(pid)

    def fault(blade: str, load_id: str, console: ConsoleProtocol | None,
              progress: Callable[[str], None]) -> ArmedFault | None:  # fmt: skip
        """`run --fault`'s fault, on the run's first blade, in the load it names."""
        from swaplab.fleet.loads import AGENT_DIR
        from swaplab.lab import machines
        from swaplab.lab.faults import FaultSpec, FaultTimer, LabHandles
        from swaplab.lab.paths import LabPaths

        if not settings.options.fault or blade != sorted(settings.blades)[0]:
            return None
        spec = FaultSpec.parse(settings.options.fault)
        if spec.load != load_id:
            return None
        paths = LabPaths.default()
        nas = Remote(settings.nas, Path(settings.ssh_config), Path(settings.control_dir))
        on_blade = Remote(blade, Path(settings.ssh_config), Path(settings.control_dir))
        load_dir = f"{AGENT_DIR}/loads/{load_id}"

        def nas_shell(command: str, timeout: float) -> str:
            r = nas.run(command, timeout=timeout)
            if r.rc != 0:
                raise RuntimeError(f"`{command[:80]}` on the NAS exited {r.rc}: {r.stderr.strip()[-200:]}")
            return r.stdout

        def hog_swapfile() -> tuple[int, str]:
            """The running hog's run number (its pid) and its NFS swapfile as the NAS names it (the export the
            blade mounted, and the file's name in it). Once the pid file names a running hog, not before: the
            fault's clock starts before the load's directory is made anew, and on a slow host the hog was not
            yet running 5 s into the trial (the fresh-clone CI of 2026-12-07, commit 49bab40); a pid file left
            by an earlier run's trial of the same name names no running hog."""
            r = on_blade.run(
                f'{_running_hog(load_dir)} echo "$p"; '
                "f=$(awk '$2 == \"file\" {print $1}' /proc/swaps); "
                "m=$(df --output=target \"$f\" | tail -1); awk -v m=\"$m\" '$2 == m {print $1}' /proc/mounts; "
                'basename "$f"', timeout=120)  # fmt: skip
            lines = r.stdout.split()
            if r.rc != 0 or len(lines) != 3 or not lines[0].isdigit() or ":" not in lines[1]:
                raise RuntimeError(f"the hog's run and swapfile not found on {blade}: {r.stdout[-200:]!r}")
            export = lines[1].split(":", 1)[1]
            if not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", export) or ".." in export or "/" in lines[2]:
                raise RuntimeError(f"{blade}: unexpected NFS swap export {lines[1]!r} or file {lines[2]!r}")
            return int(lines[0]), f"{export}/{lines[2]}"

        def hog_stop() -> int:
            """SIGSTOP to the running hog (its pid file): its progress stands still, the blade's heartbeat goes on."""
            # Once the hog runs and has said how far it is (its pid file, its first progress), not before.
            wait = _running_hog(load_dir, f"[ -s {load_dir}/progress.json ]")
            r = on_blade.run(f'{wait} [ -n "$p" ] && kill -STOP "$p" && echo "$p"', timeout=120)
            if r.rc != 0 or not r.stdout.strip().isdigit():
                raise RuntimeError(f"the hog could not be stopped on {blade}: {(r.stderr or r.stdout)[-200:]!r}")
            return int(r.stdout.strip())

        def sysrq(key: str) -> None:
            if console is None:
                raise RuntimeError("the blade has no console")
            console.send_sysrq(key)

        progress(f"{load_id}: fault {spec} armed")
        handles = LabHandles(paths.run / f"{blade}.qmp", lambda frozen: machines.nas_freeze(paths, frozen), sysrq,
                             nas_shell, machines.nfs_service(paths), hog_swapfile, hog_stop)  # fmt: skip
        return FaultTimer(spec, handles)

    return LabHooks(reprovision=reprovision, host_load=host_load if settings.virtual else None, fault=fault)
