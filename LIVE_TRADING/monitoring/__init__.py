"""Running it for real: HTTP health and metrics, circuit breaker, alerts, the performance report, exports."""
