"""The gate's checks, one module each; ``registry`` holds them in their fixed order."""
