"""videoguard's guard package: policy, verdicts, the fail-closed release pipeline and provenance.

``guard`` is the only package that does file or network I/O; ``generator``, ``classifiers`` and
``watermark`` are pure and never import it.
"""

from guard.verdict import Blocked, Decision, Verdict

__all__ = ["Blocked", "Decision", "Verdict"]
__version__ = "0.1.0"
