"""A plan's verdict and the exit status each gives (xlrmrr(1) EXIT STATUS)."""

from __future__ import annotations

from xlrmrr.common import EXIT_DEGRADED, EXIT_FAIL, EXIT_INPUT, EXIT_OK

VERDICT_OK = "ok"
VERDICT_BLOCKED = "blocked"
VERDICT_DEGRADED = "degraded"
# The host data cannot tell (Host.rmrrs_unknown) whether the guest's devices have RMRRs, and
# nothing else is wrong: exit 2, as for input that cannot answer the question.
VERDICT_UNKNOWN = "unknown"
EXIT_FOR = {VERDICT_OK: EXIT_OK, VERDICT_BLOCKED: EXIT_FAIL, VERDICT_DEGRADED: EXIT_DEGRADED,
            VERDICT_UNKNOWN: EXIT_INPUT}
RANK = {VERDICT_OK: 0, VERDICT_UNKNOWN: 1, VERDICT_DEGRADED: 2, VERDICT_BLOCKED: 3}
