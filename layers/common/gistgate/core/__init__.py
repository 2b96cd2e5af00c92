"""What every function needs: settings, outbound fetching and its fence, caches, URLs,
logging and metrics, secrets, discovery, and the decoding of inbound requests.

Ships in CommonLayer. Imports nothing from the rest of gistgate.
"""

__all__: list[str] = []
