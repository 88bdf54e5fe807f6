# The imgsim Python package: the provisioning step of docker-compose, the vectorizer and the search API.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services services
COPY infra/native infra/native
COPY infra/connector infra/connector
RUN pip install --no-cache-dir '.[vectorizer,search-api]'
CMD ["imgsim-stack", "--help"]
