"""Prometheus metrics of one app instance, in its own registry (several apps may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("videoguard_http_requests", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("videoguard_http_request_duration_seconds", "HTTP request latency by route.",
                                 ["method", "route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.verdicts = Counter("videoguard_verdicts", "Decisions returned, by endpoint and decision.",
                                ["endpoint", "decision"], registry=self.registry)
        self.rate_limited = Counter("videoguard_rate_limited", "Requests refused with 429, by scope.",
                                    ["scope"], registry=self.registry)
        self.upload_bytes = Counter("videoguard_upload_bytes", "Bytes of uploads streamed to disk.",
                                    registry=self.registry)
        self.uploads_rejected = Counter("videoguard_uploads_rejected", "Uploads refused for size (413).",
                                        registry=self.registry)
        self.jobs = Counter("videoguard_jobs", "Generation jobs finished, by status.", ["status"],
                            registry=self.registry)
        self.queue_depth = Gauge("videoguard_job_queue_depth", "Generation jobs queued or running.",
                                 registry=self.registry)
        self.queue_full = Counter("videoguard_job_queue_full", "Generation requests refused with 503.",
                                  registry=self.registry)
        self.prompt_batch_size = Histogram("videoguard_prompt_batch_size",
                                           "Prompts per batched check of single-prompt requests.",
                                           buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.prompt_workers_replaced = Counter("videoguard_prompt_workers_replaced",
                                               "Prompt worker processes discarded (died, hung past the request "
                                               "timeout, or failed to start) and started again.",
                                               registry=self.registry)
        self.stages_loaded = Gauge("videoguard_stage_loaded", "1 if the stage is built, 0 if missing.", ["stage"],
                                   registry=self.registry)
