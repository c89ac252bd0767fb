"""What every part of the platform shares at its edge with the outside world: request bounds, deployment
secrets, start-up checks, process supervision."""
