"""Where the virtual lab keeps its things: one cache for images, one run directory for state."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from swaplab.repo import HOME


@dataclass(frozen=True)
class LabPaths:
    base: Path

    @classmethod
    def default(cls) -> LabPaths:
        return cls(Path(os.environ.get("SWAPLAB_LAB_DIR", HOME / ".cache" / "lab")))

    def secure(self) -> None:
        """Make the lab private to root: its disks hold the NAS's private host key and the blade roots.

        Directories 0700, image files 0600; called by every build and bring-up, so an older lab's
        0644 images are fixed too."""
        for d in (self.base, self.images, self.run):
            d.mkdir(mode=0o700, parents=True, exist_ok=True)
            d.chmod(0o700)
        for f in self.images.iterdir():
            if f.is_file() and not f.is_symlink():
                f.chmod(0o600)

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
