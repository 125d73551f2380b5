"""Kernel checks: find a kernel's config and judge it for the swap-over-NFS suite."""
