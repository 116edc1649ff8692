"""The code interpreter: E2B's server on port 49999 inside `code-interpreter-v1` sandboxes.

`e2b-code-interpreter`'s `run_code` and its context calls talk to it (wire reference:
shared/docs/e2b-wire-protocol.md, section 5). Code runs in real Jupyter kernels (ipykernel for
Python, bash_kernel for bash, Deno's built-in kernel for JavaScript and TypeScript), one per
context, driven over ZeroMQ with jupyter_client: no Jupyter server in between.
"""

INTERPRETER_PORT = 49999
