"""Independent references the exercise checks compare against, and seeded case inputs."""
