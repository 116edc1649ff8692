"""Start bash_kernel without pexpect's pause before each write to bash.

pexpect waits `delaybeforesend` (50 ms) before every `send`, and bash_kernel sends twice per
cell (the code, then `echo $?`), so every bash execution took at least 100 ms. The pause
guards programs that discard input typed before they are ready; bash reads from a pty that
keeps it, so it is dropped once bash is up and its prompt set.

Usage (a kernel spec's argv): python bash_kernel_launcher.py -f {connection_file}
"""

from typing import Any

from bash_kernel.kernel import BashKernel  # type: ignore[import-untyped,import-not-found,unused-ignore]
from ipykernel.kernelapp import IPKernelApp


class PromptBashKernel(BashKernel):  # type: ignore[misc]
    def _start_bash(self) -> None:
        super()._start_bash()
        self.bashwrapper.child.delaybeforesend = None


def main(**kwargs: Any) -> None:
    IPKernelApp.launch_instance(kernel_class=PromptBashKernel, **kwargs)


if __name__ == "__main__":
    main()
