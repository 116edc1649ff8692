"""Isolation drivers behind one interface (`types.Driver`): `oci` (runsc, crun); `microvm` later."""
