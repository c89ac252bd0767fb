"""Disruptions: finding the travellers a change in the network disrupts (closures, realtime alerts, feed swaps);
disaster warnings turned into closures (JMA XML intake, the warning policy), avoid-planning, the warnings attached
to answers, and telling travellers."""
