# One image for every service of docker-compose.yml: api, worker, beat, flower and the simulator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A fixed, unprivileged user: nothing in the container runs as root.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app

WORKDIR /app
COPY pyproject.toml README.md ./
COPY core ./core
COPY worker ./worker
COPY tasks ./tasks
COPY api ./api
COPY simulator ./simulator
COPY cli ./cli
COPY examples ./examples
RUN pip install --no-compile . \
    && mkdir -p /app/var/out \
    && chown -R app:app /app/var

USER app
EXPOSE 8080 5555 8025
CMD ["mimecast-source", "api", "--host", "0.0.0.0", "--port", "8080"]
