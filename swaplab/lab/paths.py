"""Where the virtual lab keeps its things: one cache for images, one run directory for state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LabPaths:
    base: Path

    @classmethod
    def default(cls) -> LabPaths:
        return cls(Path(os.environ.get("SWAPLAB_LAB_DIR", ROOT / ".cache" / "lab")))

    @property
    def images(self) -> Path:
        return self.base / "images"

    @property
    def run(self) -> Path:
        return self.base / "run"

    @property
    def key(self) -> Path:
        return self.images / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.run / "known_hosts"

    @property
    def nas_image(self) -> Path:
        return self.images / "nas.img"

    @property
    def nas_kernel(self) -> Path:
        return self.images / "nas-vmlinuz"

    @property
    def nas_initrd(self) -> Path:
        return self.images / "nas-initrd"

    @property
    def nas_host_key_pub(self) -> Path:
        return self.images / "nas_host_ed25519_key.pub"

    @property
    def stamp(self) -> Path:
        return self.images / "build.stamp"
