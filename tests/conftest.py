pytest_plugins = ["tests.integration.fixtures", "tests.vectorizer.fixtures"]
