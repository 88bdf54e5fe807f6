# The imgsim Python package. EXTRAS picks one service's dependency set for an image of its own
# (docker-compose builds each: `vectorizer`, `search-api`, `indexer-check`, and empty for `init`
# and `credentials`, whose launcher code needs none); the default holds the vectorizer and the
# search API.
FROM python:3.11-slim
ARG EXTRAS=vectorizer,search-api

# The services never run as root. A fixed uid: docker-compose.yml names it (`user:`), and a new
# named volume takes the owner of the directory it is mounted on, so these directories, owned
# by it, make the volumes it writes its own: the stack's security directory and the connector's
# login (`credentials`, `init`), each container's own credentials (imgsim_stack.compose_credentials),
# the Keras weights and the ONNX models the vectorizer caches.
RUN groupadd --gid 10001 imgsim \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/imgsim \
      --shell /usr/sbin/nologin imgsim \
 && install -d -o imgsim -g imgsim -m 0700 \
      /var/lib/imgsim/stack \
      /var/lib/imgsim/stack/security \
      /var/lib/imgsim/stack/security/connect \
      /var/lib/imgsim/hand-out \
      /var/lib/imgsim/hand-out/elasticsearch \
      /var/lib/imgsim/hand-out/kafka \
      /var/lib/imgsim/hand-out/connect \
      /var/lib/imgsim/hand-out/vectorizer \
      /var/lib/imgsim/hand-out/search-api \
      /var/lib/imgsim/hand-out/indexer-check \
      /home/imgsim/.keras \
      /home/imgsim/.cache \
      /cache/onnx

WORKDIR /app
COPY pyproject.toml README.md ./
COPY services services
COPY infra/native infra/native
COPY infra/connector infra/connector
# Installed as root: the code stays read-only to the user that runs it.
RUN pip install --no-cache-dir ".${EXTRAS:+[$EXTRAS]}"

USER 10001:10001
CMD ["imgsim-stack", "--help"]
