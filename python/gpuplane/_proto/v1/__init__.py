"""Generated protobuf and gRPC code of the gpuplane.v1 wire contract (do not edit)."""
