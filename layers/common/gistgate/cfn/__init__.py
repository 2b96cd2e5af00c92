"""The API's gateway responses (the 401/403 challenges) and the CloudFormation custom
resource that applies them at deploy time. Ships in CommonLayer."""

__all__: list[str] = []
