FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Production, said explicitly (it is also what a process with no NEWSLETTER_ENV runs as): the
# app refuses to start without NEWSLETTER_SECRET_KEY or _FILE holding 32 bytes or more.
ENV NEWSLETTER_ENV=production
WORKDIR /app
COPY pyproject.toml README.md ./
COPY service ./service
COPY worker ./worker
RUN pip install --no-cache-dir -e .
COPY templates ./templates
COPY issues ./issues
RUN useradd --create-home newsletter && mkdir -p /app/instance && chown newsletter /app/instance
USER newsletter
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "service.wsgi:app"]
