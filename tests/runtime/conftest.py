"""Runtime tests share the base rootfs and envd distribution fixtures of tests/conftest.py."""
