# The imgsim Python package. One image by default (the provisioning step of docker-compose, the
# vectorizer and the search API); EXTRAS picks one service's dependency set for an image of its
# own: `vectorizer`, `search-api`, or empty for `init` (imgsim-stack provision needs none).
FROM python:3.11-slim
ARG EXTRAS=vectorizer,search-api
WORKDIR /app
COPY pyproject.toml README.md ./
COPY services services
COPY infra/native infra/native
COPY infra/connector infra/connector
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"
CMD ["imgsim-stack", "--help"]
