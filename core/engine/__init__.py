"""The collection engine's decisions, pure: units of work, the fetch -> forward message, what a
fetch and a forward must do. `tasks/` carries them out."""
