"""The control plane: E2B's REST API over Corral's orchestrators, with its durable state."""
