"""Disruptions: disaster warnings turned into closures (JMA XML intake, the warning policy), avoid-planning, the
warnings attached to answers, and telling travellers."""
