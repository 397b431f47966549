# The hub image. PostgreSQL, Redis and Mosquitto run as their own services (docker-compose.yml).
# Base images are pinned to exact versions (tests/unit/test_compose_file.py checks it); bump them deliberately.

# The consoles' libraries, exactly as frontend/package-lock.json pins them.
FROM node:20.18.1-bookworm-slim AS consoles
WORKDIR /frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11.11-slim-bookworm
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CITYLOOP_HOST=0.0.0.0 CITYLOOP_PORT=8080
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY dispatch ./dispatch
COPY geo ./geo
COPY connectors ./connectors
# Not the hub (`cityloop serve` never imports it), but `cityloop simulate|bench|demo` work in the container too.
COPY tools ./tools
COPY migrations ./migrations
COPY frontend ./frontend
COPY --from=consoles /frontend/node_modules ./frontend/node_modules
# /var/lib/cityloop/mqtt-accounts: Docker gives the empty `mqtt-accounts` volume this folder's owner when it mounts it
# here (the broker only reads it), so `cityloop devices` can write the broker's files. /var/lib/cityloop/data is
# CITYLOOP_DATA_DIR (grid-report photos): the `hub-data` volume, owned the same way; /app is not writable.
RUN pip install --no-cache-dir -e . && useradd --system --create-home cityloop && \
    install -d -o cityloop -g cityloop -m 0750 /var/lib/cityloop/mqtt-accounts /var/lib/cityloop/data
ENV CITYLOOP_DATA_DIR=/var/lib/cityloop/data
USER cityloop
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz').status == 200 else 1)"
CMD ["cityloop", "serve"]
