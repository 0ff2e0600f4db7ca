"""The compiled engine: state, step, the three loops, the plan and the compiled programs."""
