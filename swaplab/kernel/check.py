"""Judge whether a kernel can run the swap-over-NFS suite. Pure, given a KernelInfo."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from swaplab.kernel.sources import KernelInfo, KernelUnreadable, load_kernel
from swaplab.textsafe import visible

Status = Literal["pass", "fail", "warn", "info"]

__all__ = ["Check", "KernelUnreadable", "Verdict", "check_path", "judge", "parse_config", "render_text"]

_LINE_RE = re.compile(r"^(?:(?P<opt>CONFIG_\w+)=(?P<val>.*)|# (?P<unset>CONFIG_\w+) is not set)$", re.M)


def parse_config(text: str) -> dict[str, str]:
    """Map CONFIG_* to its value; options that are not set map to ``n``."""
    out: dict[str, str] = {}
    for m in _LINE_RE.finditer(text):
        if m.group("unset"):
            out[m.group("unset")] = "n"
        else:
            out[m.group("opt")] = m.group("val").strip().strip('"')
    return out


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class Verdict:
    path: str
    kind: str
    release: str | None
    version: str | None
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fit(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fit"] = self.fit
        d["missing"] = [c.name for c in self.checks if c.status == "fail"]
        return d


def _val(cfg: dict[str, str], opt: str) -> str:
    return cfg.get(opt, "n")


def _builtin(cfg: dict[str, str], opt: str, why: str) -> Check:
    v = _val(cfg, opt)
    if v == "y":
        return Check(opt, "pass", f"{opt}=y")
    return Check(opt, "fail", f"{opt} is {'not set' if v == 'n' else v}: {why}", f"set {opt}=y")


def _tristate(cfg: dict[str, str], opt: str, module: str, modules: set[str] | None, why: str) -> Check:
    v = _val(cfg, opt)
    if v == "y":
        return Check(opt, "pass", f"{opt}=y")
    if v == "m":
        if modules is None:
            return Check(opt, "pass", f"{opt}=m (module {module}.ko not checked for this input)")
        if module in modules:
            return Check(opt, "pass", f"{opt}=m, {module}.ko present")
        return Check(
            opt, "fail", f"{opt}=m but {module}.ko is missing from lib/modules", f"install the modules, or set {opt}=y"
        )
    return Check(opt, "fail", f"{opt} is not set: {why}", f"set {opt}=y (or =m)")


def judge(info: KernelInfo) -> Verdict:
    cfg = parse_config(info.config_text)
    version = info.version
    v = Verdict(
        info.path, info.kind, info.release, ".".join(map(str, version)) if version else None, notes=list(info.notes)
    )
    add = v.checks.append
    add(_builtin(cfg, "CONFIG_SWAP", "no swap support at all"))
    add(_builtin(cfg, "CONFIG_NFS_SWAP", "swapon on an NFS file fails with EINVAL"))
    add(
        _builtin(
            cfg, "CONFIG_SUNRPC_SWAP", "the RPC layer cannot use PF_MEMALLOC reserves (selected by CONFIG_NFS_SWAP)"
        )
    )
    add(_tristate(cfg, "CONFIG_NFS_FS", "nfs", info.modules, "no NFS client"))
    nfsv = [o for o in ("CONFIG_NFS_V3", "CONFIG_NFS_V4") if _val(cfg, o) in ("y", "m")]
    if nfsv:
        add(Check("NFS protocol", "pass", ", ".join(f"{o}={_val(cfg, o)}" for o in nfsv)))
    else:
        add(
            Check(
                "NFS protocol",
                "fail",
                "neither CONFIG_NFS_V3 nor CONFIG_NFS_V4 is set",
                "set CONFIG_NFS_V3=y (NFS root from an initramfs needs v3)",
            )
        )
    add(_tristate(cfg, "CONFIG_BLK_DEV_NBD", "nbd", info.modules, "no NBD swap baseline"))
    # Diskless boot: in-kernel IP autoconfig + NFS root, or an initramfs that mounts it.
    pnp = (
        _val(cfg, "CONFIG_IP_PNP") == "y" and _val(cfg, "CONFIG_ROOT_NFS") == "y" and _val(cfg, "CONFIG_NFS_FS") == "y"
    )
    initrd = _val(cfg, "CONFIG_BLK_DEV_INITRD") == "y"
    if pnp or initrd:
        how = "CONFIG_IP_PNP + CONFIG_ROOT_NFS" if pnp else "CONFIG_BLK_DEV_INITRD (NFS root from a netboot initramfs)"
        add(Check("diskless boot", "pass", how))
    else:
        add(
            Check(
                "diskless boot",
                "fail",
                "no way to mount an NFS root: neither IP_PNP+ROOT_NFS (with NFS_FS=y) nor BLK_DEV_INITRD",
                "set CONFIG_BLK_DEV_INITRD=y, "
                "or CONFIG_IP_PNP=y CONFIG_IP_PNP_DHCP=y CONFIG_ROOT_NFS=y CONFIG_NFS_FS=y",
            )
        )
    add(_builtin(cfg, "CONFIG_DETECT_HUNG_TASK", "hung tasks would go unreported"))
    soft = "CONFIG_SOFTLOCKUP_DETECTOR" if "CONFIG_SOFTLOCKUP_DETECTOR" in cfg else "CONFIG_LOCKUP_DETECTOR"
    add(_builtin(cfg, soft, "soft lockups would go unreported"))
    if _val(cfg, "CONFIG_HARDLOCKUP_DETECTOR") == "y":
        add(Check("CONFIG_HARDLOCKUP_DETECTOR", "pass", "CONFIG_HARDLOCKUP_DETECTOR=y"))
    else:
        add(
            Check(
                "CONFIG_HARDLOCKUP_DETECTOR",
                "warn",
                "hard lockups will not be reported",
                "set CONFIG_HARDLOCKUP_DETECTOR=y",
            )
        )
    add(_builtin(cfg, "CONFIG_MAGIC_SYSRQ", "the harness cannot ask a stuck blade for its blocked tasks (sysrq-w)"))
    if _val(cfg, "CONFIG_ZSWAP_DEFAULT_ON") == "y":
        add(
            Check(
                "zswap",
                "info",
                "zswap is on by default and would absorb pages before they reach swap",
                "boot with zswap.enabled=0 (swaplab does)",
            )
        )
    if version is not None:
        if version < (3, 6):
            add(Check("release", "fail", f"{v.version}: swap over NFS arrived in 3.6", "use a 3.6 or later kernel"))
        elif (5, 4) <= version < (5, 19):
            add(
                Check(
                    "release",
                    "warn",
                    f"{v.version}: swap writes over NFS fail on about 5.4-5.18 "
                    '("Write error on dio swapfile"); fixed by the 5.19 ->swap_rw rework',
                    "expect swap_io_error findings; test 5.19 or later",
                )
            )
        elif version < (6, 6):
            add(
                Check(
                    "release",
                    "info",
                    f"{v.version}: NFSv4 swap needs the state-manager fixes of about 6.6 "
                    "(or their stable backports); NFSv3 is the safe choice",
                )
            )
        else:
            add(Check("release", "pass", f"{v.version}"))
    return v


def check_path(path: str, release: str | None = None) -> Verdict:
    return judge(load_kernel(path, release))


def render_text(v: Verdict) -> str:
    """The verdict in lines; every name taken from the package or the tree is shown on one line, its
    controls escaped (a member named "x\nverdict: fit" cannot forge a line)."""

    def s(text: object) -> str:
        return visible(str(text), one_line=True)

    lines = [f"kernel: {s(v.release or '?')} ({v.kind}: {s(v.path)})"]
    lines += [f"  note: {s(n)}" for n in v.notes]
    for c in v.checks:
        mark = {"pass": "ok  ", "fail": "FAIL", "warn": "warn", "info": "info"}[c.status]
        lines.append(f"  {mark} {c.name}: {s(c.detail)}" + (f" -> {s(c.fix)}" if c.fix and c.status != "pass" else ""))
    if v.fit:
        lines.append("verdict: fit for the swap-over-NFS suite")
    else:
        missing = ", ".join(c.name for c in v.checks if c.status == "fail")
        lines.append(f"verdict: UNFIT: {missing}")
    return "\n".join(lines)
