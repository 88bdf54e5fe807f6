pytest_plugins = [
    "tests.integration.fixtures",
    "tests.vectorizer.fixtures",
    "tests.search_api.fixtures",
]
