"""The model bundle: writer, reader (no pickle), parity check and predictors (app and standalone)."""
