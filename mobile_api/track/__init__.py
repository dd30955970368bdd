"""Customer progress lookup and the stages of meter-installation applications."""
