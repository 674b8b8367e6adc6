"""The conductor process: clock, agents, listening, and the state the GUI shows."""
