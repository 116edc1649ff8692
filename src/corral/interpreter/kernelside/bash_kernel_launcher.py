"""Start bash_kernel with bash set up by its rc file instead of by typed commands.

bash_kernel sets bash up by typing into it: the prompt change, `export PAGER=cat`, a `bind`,
then its `display` functions line by line, each `send` preceded by pexpect's
`delaybeforesend` (50 ms): about 45 sends, 2.3 s before a bash context could run anything.
Here the same setup is in the rc file bash reads before its first prompt, so nothing is typed
until the first run and bash is ready as soon as that prompt (already the unique one) shows.

The pause is also dropped for good: it guards programs that discard input typed before they
are ready, and bash reads from a pty that keeps it. Without it, every run saves 100 ms
(bash_kernel sends the code, then `echo $?`).

Usage (a kernel spec's argv): python bash_kernel_launcher.py -f {connection_file}
"""

import os
import signal
import tempfile
from typing import Any

import pexpect  # type: ignore[import-untyped,unused-ignore]
from bash_kernel.display import build_cmds  # type: ignore[import-untyped,import-not-found,unused-ignore]
from bash_kernel.kernel import BashKernel, IREPLWrapper  # type: ignore[import-untyped,import-not-found,unused-ignore]
from ipykernel.kernelapp import IPKernelApp

# pexpect's bashrc.sh (the user's usual rc files), then what bash_kernel would type. The
# values come through the environment and are removed from it before the first prompt.
RC_FILE = """\
for rc in /etc/bashrc /etc/bash.bashrc ~/.bashrc; do
  if [[ -f $rc ]]; then source "$rc"; fi
done
unset rc
PS1=$__CORRAL_PS1 PS2=$__CORRAL_PS2 PROMPT_COMMAND=''
export PAGER=cat
bind 'set enable-bracketed-paste off' >/dev/null 2>&1 || true
eval "$__CORRAL_SETUP"
unset __CORRAL_PS1 __CORRAL_PS2 __CORRAL_SETUP
"""


class PromptBashKernel(BashKernel):  # type: ignore[misc]
    def _start_bash(self) -> None:
        # As BashKernel._start_bash: bash and its children get default SIGINT and SIGPIPE.
        old_sigint = signal.signal(signal.SIGINT, signal.SIG_DFL)
        old_sigpipe = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        fd, rc_path = tempfile.mkstemp(prefix="corral-bashrc-", suffix=".sh")
        try:
            with os.fdopen(fd, "w") as rc:
                rc.write(RC_FILE)
            # `\[\]` keeps the prompt out of `env`'s output (see bash_kernel and replwrap).
            env = {
                **os.environ,
                "__CORRAL_PS1": self.unique_prompt + r"\[\]>",
                "__CORRAL_PS2": self.unique_prompt + r"\[\]+",
                "__CORRAL_SETUP": build_cmds(),
            }
            child = pexpect.spawn(
                "bash",
                ["--rcfile", rc_path],
                echo=False,
                encoding="utf-8",
                codec_errors="replace",
                env=env,
            )
            child.delaybeforesend = None
            # No prompt change to type: the wrapper only waits for the unique prompt.
            self.bashwrapper = IREPLWrapper(
                child,
                self.unique_prompt,
                None,
                self.unique_prompt,
                line_output_callback=self.process_output,
            )
        finally:
            signal.signal(signal.SIGINT, old_sigint)
            signal.signal(signal.SIGPIPE, old_sigpipe)
            os.unlink(rc_path)


def main(**kwargs: Any) -> None:
    IPKernelApp.launch_instance(kernel_class=PromptBashKernel, **kwargs)


if __name__ == "__main__":
    main()
