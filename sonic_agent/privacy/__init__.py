"""Privacy: what each exporter may see (policy) and prefix-preserving address anonymisation (cryptopan).

`cryptopan` (and so `cryptography`, ~7 MB resident) is imported only when an exporter anonymises."""

KEY_BYTES = 32  # a Crypto-PAn key file: the 16-byte AES key, then the 16-byte pad
