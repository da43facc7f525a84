"""Framework-neutral tensor descriptions; imports numpy only."""
