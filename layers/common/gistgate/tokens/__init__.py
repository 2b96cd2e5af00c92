"""Bearer-token validation: JWTs against cached JWKS, opaque tokens by introspection."""
