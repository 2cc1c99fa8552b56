# One image for every service; docker-compose.yml picks the service by command.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY examples ./examples
RUN pip install . && useradd --system --uid 10001 onestop

USER onestop
EXPOSE 8000
CMD ["python", "-m", "services.gateway"]
