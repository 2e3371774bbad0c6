"""Privacy: what each exporter may see (policy) and prefix-preserving address anonymisation (cryptopan)."""
