"""Process roles of ``cunxiang serve`` (kept light: the CLI imports it at start-up)."""

# all: a township in one process; web: panel and API only (several may run);
# scheduler: broker, gateway and scheduler (one active, others wait to take over).
ROLES = ("all", "web", "scheduler")
