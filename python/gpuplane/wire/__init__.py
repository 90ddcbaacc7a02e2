"""The wire layer shared by :class:`gpuplane.Client` and the daemon: core values <-> protobuf
messages (``wire.messages``) and gpuplane errors <-> gRPC status codes and trailers
(``wire.status``). Neither side keeps a copy of these rules."""
