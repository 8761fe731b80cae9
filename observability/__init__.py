"""What the processes tell their operators: structured JSON logs that never carry personal
information (`logs`). Metrics and traces are not here yet."""
