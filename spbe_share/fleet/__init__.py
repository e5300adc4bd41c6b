"""The fleet: every target and app an operator (or the central team) looks after."""
