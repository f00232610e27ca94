"""Tasks: what to ask. Each family generates fresh instances from (seed, index, difficulty)."""
