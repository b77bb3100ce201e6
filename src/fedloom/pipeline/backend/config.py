"""Constants FATE's pipeline scripts import from ``pipeline.backend.config``."""

from __future__ import annotations

__all__ = ["VERSION", "Backend", "IODataType", "JobStatus", "Role", "StatusCode", "WorkMode"]

#: DSL version the pipeline writes.
VERSION = 2


class Backend:
    """FATE 1.x computing backends (accepted in old scripts, not used)."""

    EGGROLL = 0
    SPARK_RABBITMQ = 1
    SPARK_PULSAR = 2
    STANDALONE = 0


class WorkMode:
    """FATE 1.x work modes (accepted in old scripts, not used)."""

    STANDALONE = 0
    CLUSTER = 1


class Role:
    GUEST = "guest"
    HOST = "host"
    ARBITER = "arbiter"

    @classmethod
    def support_roles(cls) -> list[str]:
        return [cls.GUEST, cls.HOST, cls.ARBITER]


class JobStatus:
    """A job's states (the server's names)."""

    WAITING = "waiting"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELED = "canceled"


class StatusCode:
    SUCCESS = 0
    FAIL = 1
    CANCELED = 2


class IODataType:
    SINGLE = "data"
    TRAIN = "train_data"
    VALIDATE = "validate_data"
    TEST = "test_data"
