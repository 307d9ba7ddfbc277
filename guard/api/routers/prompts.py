"""Prompt checks: one prompt or a batch, each answered with the prompt gate's verdict.

A verdict is an answer, not an error: ``block`` and ``error`` (a stage missing or failing: fail
closed) come back with 200 and the decision, as a moderation endpoint's categories and scores do.
Each check is recorded in the ledger (SHA-256 of the prompt, text only if the policy allows).
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from guard.api.auth import require
from guard.api.routers.common import AUTH, note, problems, state
from guard.api.schemas import PromptBatchRequest, PromptBatchResponse, PromptCheckRequest, VerdictOut, public_verdict
from guard.errors import InputError
from guard.ledger import sha256_text
from guard.verdict import Decision, Verdict

router = APIRouter(prefix="/v1/prompts", tags=["prompts"], dependencies=[Depends(require("moderate"))])


def _check_all(request: Request, prompts: list[str]) -> list[Verdict]:
    pipeline = state(request).engine.prompt_pipeline()
    for index, prompt in enumerate(prompts):  # validate the whole batch before checking any of it
        try:
            pipeline.validate_prompt(prompt)
        except InputError as exc:
            raise type(exc)(f"prompts[{index}]: {exc}" if len(prompts) > 1 else str(exc)) from exc
    return pipeline.check_prompts(prompts)  # one batched call of the prompt gate, one ledger transaction


def _log_fields(request: Request, prompts: list[str], decisions: list[Decision]) -> None:
    policy = state(request).policy
    fields: dict[str, object] = {"decision": Decision.worst(decisions).value,
                                 "prompts": len(prompts)}
    if len(prompts) == 1:
        fields["prompt_sha256"] = sha256_text(prompts[0])
    if policy.ledger.log_prompt_text:
        fields["prompt_text"] = prompts
    note(request, **fields)
    for decision in decisions:
        state(request).metrics.verdicts.labels(endpoint="prompt", decision=decision.value).inc()


@router.post("/check", response_model=VerdictOut, summary="Check one prompt",
             responses=problems(400, *AUTH, 413, 422, 503, 504))
async def check_prompt(request: Request, body: PromptCheckRequest) -> Response:
    app = state(request)
    checked = await app.prompt_batcher.check(body.prompt, timeout_s=app.settings.request_timeout_s)
    _log_fields(request, [body.prompt], [checked.decision])
    # The body is VerdictOut, rendered by the batcher's worker (``public_verdict_json``): sent as it is, so the
    # event loop neither validates nor serializes the verdict again (response_model above documents it).
    return Response(checked.body, media_type="application/json")


@router.post("/check-batch", response_model=PromptBatchResponse, summary="Check several prompts in one call",
             responses=problems(400, *AUTH, 413, 422, 503, 504))
async def check_batch(request: Request, body: PromptBatchRequest) -> PromptBatchResponse:
    app = state(request)
    verdicts = await app.offloader.run(_check_all, request, body.prompts, timeout_s=app.settings.request_timeout_s)
    _log_fields(request, body.prompts, [v.decision for v in verdicts])
    return PromptBatchResponse(decision=Decision.worst([v.decision for v in verdicts]),
                               results=[public_verdict(v, app.policy) for v in verdicts])
