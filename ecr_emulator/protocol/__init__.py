"""The wire protocol: botocore's service models drive parsing, validation and serialization."""
