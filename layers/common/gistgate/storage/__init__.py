"""DynamoDB and KMS access: item keys (STORAGE.md) and the process-wide AWS clients."""

__all__: list[str] = []
