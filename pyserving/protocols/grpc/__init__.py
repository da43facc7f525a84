"""gRPC frontend: TF Serving's PredictionService and ModelService on grpc.aio.

``server.create_server(core, options)`` is the entry point; ``runner.py`` binds and starts it.
"""
