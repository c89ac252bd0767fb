"""Finding the travellers a change in the network disrupts (closures, realtime alerts, feed swaps)."""
