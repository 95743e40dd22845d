"""Settings from the environment; the service refuses to start without what it needs."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class Settings:
    """What the service needs to run; see ``from_env`` for the variable names."""

    database_url: str
    jwt_secret: str
    jwt_audience: str = "orders-service"
    pool_min: int = 2
    pool_max: int = 10
    writes_per_minute: int = 600
    ready_timeout_s: float = 1.0
    # A folder every worker process of one start shares (orders_service.serve makes a fresh one):
    # the rate limiter's buckets live there. Empty: one process, buckets in memory.
    state_dir: str = ""
    # Fault injection for demonstrations of the gate: every API request waits this long.
    artificial_delay_ms: int = 0
    # Test-only fault injection (TEST_FAULT, off by default): the readiness gate's own tests start
    # the service with one of FAULTS to prove that its api check catches the fault.
    test_fault: str = ""
    FAULTS: ClassVar[tuple[str, ...]] = ("leak-500", "open-write", "no-rate-limit")

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """The settings from ``env`` (default: the process environment); refuses without the required ones."""
        env = dict(os.environ if env is None else env)
        missing = [name for name in ("DATABASE_URL", "JWT_SECRET") if not env.get(name)]
        if missing:
            raise RuntimeError(f"orders-service: set {' and '.join(missing)} in the environment")
        return cls(
            database_url=env["DATABASE_URL"],
            jwt_secret=env["JWT_SECRET"],
            jwt_audience=env.get("JWT_AUDIENCE", cls.jwt_audience),
            pool_min=int(env.get("POOL_MIN", cls.pool_min)),
            pool_max=int(env.get("POOL_MAX", cls.pool_max)),
            writes_per_minute=int(env.get("WRITES_PER_MINUTE", cls.writes_per_minute)),
            artificial_delay_ms=int(env.get("ARTIFICIAL_DELAY_MS", cls.artificial_delay_ms)),
            state_dir=env.get("ORDERS_STATE_DIR", ""),
            test_fault=_fault(env.get("TEST_FAULT", "")),
        )


def _fault(name: str) -> str:
    if name and name not in Settings.FAULTS:
        raise RuntimeError(f"orders-service: TEST_FAULT must be one of {', '.join(Settings.FAULTS)}, not {name!r}")
    return name


def database_url(env: dict[str, str] | None = None) -> str:
    """DATABASE_URL alone, for the commands that need nothing else (migrate, seed)."""
    url = (os.environ if env is None else env).get("DATABASE_URL")
    if not url:
        raise SystemExit("orders-service: set DATABASE_URL in the environment")
    return url
