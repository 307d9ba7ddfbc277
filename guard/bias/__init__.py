"""The bias auditor: a prompt gate (people, attributes, stereotype harm, optional diversification)
and an output audit of what a generator makes (faces, Monk skin tone, HEIM imbalance).

Entry points: ``build_bias_gate(policy)`` (the ``bias`` prompt stage), ``audit_prompts(ledger_rows)``
(the ``videoguard audit prompts`` report) and ``run_output_audit(...)`` (``videoguard audit bias``).
"""

from guard.bias.gate import BiasGate, build_bias_gate
from guard.bias.prompt_audit import audit_prompts

__all__ = ["BiasGate", "audit_prompts", "build_bias_gate"]
