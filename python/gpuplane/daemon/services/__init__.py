"""The gpuplane.v1 servicers: each converts, authorizes, calls the engine and converts back."""
