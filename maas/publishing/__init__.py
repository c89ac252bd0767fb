"""What the platform publishes about its network for others to look at (map layers)."""
