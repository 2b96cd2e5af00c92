"""Bearer-token validation: JWTs against cached JWKS, opaque tokens by introspection."""

__all__: list[str] = []
