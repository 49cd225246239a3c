"""Source states, the retry window and health events: pure decisions."""
