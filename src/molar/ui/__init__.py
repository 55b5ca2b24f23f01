"""Terminal presentation shared by CLI commands: Rich console, progress bars, tables."""
