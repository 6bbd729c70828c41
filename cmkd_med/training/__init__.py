"""Training: embedding caches, the teacher trainer and (later) distillation."""
