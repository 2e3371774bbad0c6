"""The agent's userspace mirror path: the erspan library's tables as neutral records."""
