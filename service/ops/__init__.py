"""Operations: health and readiness, Prometheus metrics, structured logs."""

from __future__ import annotations

from flask import Flask

from service.config import Config


def init_ops(app: Flask, config: Config) -> None:
    """``/healthz``, ``/readyz`` and ``/metrics`` on the app, and its log format."""
    from service.ops.health import init_health
    from service.ops.logs import init_web_logging
    from service.ops.metrics import init_metrics

    init_web_logging(config.log_format)
    init_health(app)
    init_metrics(app, config)
