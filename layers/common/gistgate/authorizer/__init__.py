"""The API Gateway REQUEST authorizer: bearer in, whole-API policy out."""

__all__: list[str] = []
