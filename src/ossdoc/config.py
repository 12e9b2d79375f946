"""Settings: read once from ``OSSDOC_*`` environment variables, overridden by CLI flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    # HTTP worker processes on the one listening port; the embedded model runs once beside them.
    workers: int = field(default_factory=_cores)
    data: Path = Path("./ossdoc-data")
    region: str = "cn-hangzhou"
    # Virtual-hosted style: requests to <bucket>.<base_domain> address that bucket.
    base_domain: str = "localhost"
    # What ListBuckets/GetBucketInfo report as ExtranetEndpoint; defaults to host:port.
    public_endpoint: str = ""
    access_key_id: str = ""
    access_key_secret: str = ""
    max_skew_seconds: int = 15 * 60
    # fsync every object before acknowledging it. Off, a process crash still loses nothing
    # acknowledged (the page cache survives it); a power cut may lose the last writes.
    fsync: bool = True
    # Compact the object database (give back the space of deleted small objects) once this much of
    # it, and a quarter of it, is free.
    compact_bytes: int = 16 * 1024 * 1024
    # Where objects live: "local" (the data directory), or an S3-compatible store: "s3://bucket[/prefix]"
    # ("s3": the bucket "ossdoc"), reached at s3_endpoint ("" for AWS) with these credentials.
    storage: str = "local"
    s3_endpoint: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    # "prefix": each OSS bucket is a prefix of the storage bucket; "bucket": an S3 bucket of its name.
    s3_bucket_mode: str = "prefix"
    # Document processing.
    llm: str = "local"  # local | openai | fake
    model: str = "qwen2.5-coder-0.5b"  # preset name or path to a GGUF file
    threads: int = field(default_factory=_cores)
    context_size: int = 8192
    # Speculative decoding of the embedded model: drafted tokens verified in one step at most (0: off).
    draft_tokens: int = 8
    max_output_tokens: int = 2048
    openai_base_url: str = "http://127.0.0.1:8000/v1"
    openai_api_key: str = ""
    openai_model: str = ""
    # A model server that sends no token for this long is taken as hung. Before the first token,
    # silence is tolerated while the server answers a health check (a long prompt), up to
    # llm_first_token_seconds.
    llm_stall_seconds: int = 60
    llm_first_token_seconds: int = 600
    # Generations run at once: 0 chooses by backend (1 for local and fake, 4 for openai: a server
    # such as vLLM or llama.cpp's with --parallel batches requests).
    model_slots: int = 0
    # With several servers in openai_base_url (comma-separated): the streams each may serve at once.
    openai_streams: int = 4
    max_content_bytes: int = 19_500
    # Largest stored object processed when a request has no content (the model's context is
    # usually the tighter bound).
    max_document_bytes: int = 1024 * 1024
    queue_size: int = 16
    # Finished document results kept to answer a repeat at once (same operation, parameters,
    # text and model); 0 turns the cache off.
    cache_bytes: int = 64 * 1024 * 1024
    # Asynchronous tasks (x-oss-async-process) run at once: more than one helps only with a
    # model server that serves several requests together.
    task_workers: int = 1
    # Times an asynchronous task is retried when the model backend is unavailable (with backoff).
    task_retries: int = 5
    # A document event stream can be resumed (Last-Event-ID) this long after it started, while its
    # journal (the last event and the generation's state) stays under this many bytes.
    resume_seconds: int = 600
    resume_bytes: int = 1024 * 1024
    # State the replicas of one service share (admission, stream journal, task leases, quotas):
    # "" keeps it in SQLite files of the data dir (one machine); "redis://host:6379/0" or
    # "unix:///path/redis.sock": in that Redis, under keys starting with redis_prefix.
    redis_url: str = ""
    redis_prefix: str = "ossdoc:"
    # Per access key, for document processing requests (sync, stream, async): requests and model
    # tokens (input + output) a minute; 0 is unlimited. ``ossdoc keys quota`` overrides per key.
    quota_rpm: int = 0
    quota_tpm: int = 0
    fake_token_delay_ms: int = 0  # the fake backend's pace, for tests of streaming and the queue
    log_level: str = "info"
    log_format: str = "plain"  # plain | json (one JSON object per line, one line per request)

    @property
    def endpoint(self) -> str:
        return self.public_endpoint or f"{self.host}:{self.port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``OSSDOC_<NAME>`` variables; keyword overrides (CLI flags) win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"OSSDOC_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = coerce(f.type, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "data" in values:
            values["data"] = Path(values["data"])
        return cls(**values)


def coerce(type_name: Any, raw: str) -> Any:
    if type_name in ("bool", bool):
        return raw.strip().lower() not in ("0", "false", "no", "off")
    if type_name in ("int", int):
        return int(raw)
    if type_name in ("Path", Path):
        return Path(raw)
    return raw
