"""Running pipelines: run context, fingerprints and cache, and the executor."""
