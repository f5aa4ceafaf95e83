"""``scan --ray``: the driver's side (source) and what runs on the Ray workers (tasks)."""
