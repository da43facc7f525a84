"""Open Inference Protocol v2 over REST: ``/v2/...`` beside TF Serving's ``/v1/...`` on the same port."""
