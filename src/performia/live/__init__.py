"""Live-coded agents: user code in its own process, watched files, reload at bar lines."""
