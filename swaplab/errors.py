"""One error tree: an error's type says whose fault it is, and so its exit code and its JUnit kind.

Modelled on LAVA's (``InfrastructureError``, ``JobError``, ``TestError``, ``LAVABug``):

- ``BadInput``: what the user gave cannot be used (an inventory, a kernel, an option, a history path).
  Found before anything starts; exit 2; no JUnit case, since nothing ran.
- ``Infrastructure``: the lab, a BMC, the NAS, a database did not do its part. ``<error>``, exit 2.
- ``KernelFailure``: the kernel under test failed. ``<failure>``, exit 1.
- ``SwaplabBug``: swaplab's own mistake. ``<error>``, exit 2, and the message asks for a report.

Any other exception reaching a boundary is a ``SwaplabBug`` (``kind_of``); ``KeyboardInterrupt`` is an
interruption, which is infrastructure. ``exit_code`` and ``junit_kind`` are the one place the type is
turned into a number or a tag: callers do not re-decide it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

JUnitKind = Literal["error", "failure"]


class SwaplabError(Exception):
    """The root. ``problems``: one line each, every one reported at once."""

    exit_code: ClassVar[int] = 2
    junit: ClassVar[JUnitKind] = "error"
    whose: ClassVar[str] = "swaplab"

    def __init__(self, *problems: str | list[str]) -> None:
        flat: list[str] = []
        for p in problems:
            flat.extend(p if isinstance(p, list) else [str(p)])
        self.problems = flat
        super().__init__("\n".join(flat))


class BadInput(SwaplabError):
    """Exit 2 before anything starts: the message names the input and the fix."""

    whose = "the input"


class Infrastructure(SwaplabError):
    """The lab, not the kernel: ``<error>``, exit 2."""

    whose = "the infrastructure"


class KernelFailure(SwaplabError):
    """The kernel under test failed: ``<failure>``, exit 1."""

    exit_code = 1
    junit = "failure"
    whose = "the kernel"


class SwaplabBug(SwaplabError):
    """swaplab's own failure: exit 2, never 1 (a crash is not the kernel's)."""

    whose = "swaplab"

    def __init__(self, *problems: str | list[str]) -> None:
        super().__init__(*problems)
        self.problems = [*self.problems, "this is swaplab's own bug: please report it with the traceback"]


def kind_of(exc: BaseException) -> type[SwaplabError]:
    """The kind an exception reaching a boundary is: its own, an interruption's, or a bug."""
    if isinstance(exc, SwaplabError):
        return type(exc)
    if isinstance(exc, KeyboardInterrupt):
        return Infrastructure
    return SwaplabBug


def exit_code(exc: BaseException) -> int:
    return kind_of(exc).exit_code


def junit_kind(exc: BaseException) -> JUnitKind:
    return kind_of(exc).junit


def message(exc: BaseException) -> str:
    """The words for a release engineer: the problems, or for anything else its type and text."""
    if isinstance(exc, SwaplabError):
        return "; ".join(exc.problems)
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted ({exc or 'SIGINT'})"
    return f"swaplab internal error: {type(exc).__name__}: {exc} (please report it)"
