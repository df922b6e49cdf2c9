from server_hub.api.app import create_app  # noqa: F401
