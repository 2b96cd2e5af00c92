"""Development tools (local stack, fakes); never deployed (the layer build drops them)."""
