"""Throwaway servers the demo, the benchmark and the tests share: slapd with generated
data, agent processes, a Celery worker, and the rows that wire them to a directory."""
