"""The worker's HTTP API: views, auth, middleware, the OpenAPI document and the live page."""
