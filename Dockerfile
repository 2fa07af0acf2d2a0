# Crisis timeline service: FastAPI + eventsourcing, SQLite on /data by default.
# Set TIMELINE_DATABASE_URL to a postgresql+psycopg:// URL to use PostgreSQL.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 timeline \
    && useradd --system --uid 10001 --gid timeline --home-dir /app --shell /usr/sbin/nologin timeline \
    && mkdir -p /data \
    && chown timeline:timeline /data

WORKDIR /app

COPY pyproject.toml README.md constraints.txt ./
COPY service/ ./service/
COPY migrations/ ./migrations/
# "./[postgres]" (not ".[postgres]") so hadolint sees a local path, not an unpinned package;
# constraints.txt pins every dependency to the versions the tests pass with.
RUN pip install --no-cache-dir -c constraints.txt "./[postgres]"

ENV TIMELINE_DATABASE_URL=sqlite:////data/timeline.sqlite3
VOLUME ["/data"]

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

CMD ["crisis-timeline", "serve", "--host", "0.0.0.0", "--port", "8000"]
