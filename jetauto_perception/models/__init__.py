"""The models manifest (``models.yaml``): official download URLs, checksums, local lookup."""
