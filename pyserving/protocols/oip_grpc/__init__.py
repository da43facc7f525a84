"""Open Inference Protocol v2 over gRPC: ``inference.GRPCInferenceService`` on TF Serving's gRPC port."""
