"""Itineraries the server stands behind: what a client names is re-derived from the timetable before it is sold."""
