"""The REST API under ``/api``: bearer-token auth (auth), its resources, and the OpenAPI
document flask-smorest builds from them. ``setup.init_api`` wires it into the app."""
