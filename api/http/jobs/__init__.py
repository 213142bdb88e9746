"""Jobs: the tasks (verify, generate, edit), the runners that execute them (in-process
thread pool, or RQ workers on Redis), lease-based recovery, and webhooks."""

from kinoseal.api.http.jobs.runner import LocalRunner, Runner, make_runner

__all__ = ["LocalRunner", "Runner", "make_runner"]
