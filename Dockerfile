# One image for every riskstream worker and for the MLflow tracking server of compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RISKSTREAM_STATE_DIR=/var/lib/riskstream

WORKDIR /app
COPY pyproject.toml README.md ./
COPY riskstream ./riskstream
COPY schemas ./schemas
COPY producers ./producers
COPY stream_processors ./stream_processors
COPY models ./models
COPY data ./data
RUN pip install . && useradd --create-home --uid 10001 riskstream \
    && mkdir -p /var/lib/riskstream/model-cache \
    && chown -R riskstream /var/lib/riskstream
USER riskstream
ENTRYPOINT ["riskstream"]
CMD ["--help"]
