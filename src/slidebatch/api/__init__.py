"""The HTTP service: create_app, routes by resource, the error table, auth."""
