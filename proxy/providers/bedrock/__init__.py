"""AWS Bedrock image models through ``/model/{modelId}/invoke``: one module per model family
(Stability SDXL, Stability SD3 / Stable Image, Amazon Titan Image / Nova Canvas), plus the
URL and error rules they share. Signing lives in ``proxy.credentials.aws``."""
