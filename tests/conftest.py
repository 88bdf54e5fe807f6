pytest_plugins = ["tests.integration.fixtures"]
