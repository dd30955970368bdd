"""Login for crews and dispatchers: OAuth2 password flow, JWT access tokens, refresh."""
