"""Running the platform: deployment secrets, start-up checks, process supervision."""
