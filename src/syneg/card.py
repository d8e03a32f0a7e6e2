"""The fine-tuned model's card: what it was trained from, how, and what it scores.

The ``card`` stage writes it beside the model (``models/<dataset>/card.md``, in git) from the params and the metrics
of the run that made the model, so the DVC artifact ``syneg-retriever`` (``artifacts:`` in dvc.yaml) always
ships with a description that matches its bytes.

Beside the scores, the card gives this model's difference from the base model zero-shot and from BM25, paired
over the evaluated queries from the per-query tables (:mod:`syneg.compare`): the difference, its 95% bootstrap
interval, the paired randomization test's p-value and the smallest difference the test set could detect.

Example:
    >>> text = render({"base": "m", "max_seq_length": 64}, {"strategy": "hybrid", "ratio": 0.5, "num_negatives": 3},
    ...               {"batch_size": 8}, {"dataset": "d", "counts": {"documents": 10}}, {}, {}, {}, {}, {})
    >>> text.splitlines()[0]
    '# syneg retriever: m fine-tuned on d'
"""

from __future__ import annotations

from typing import Any

from syneg.compare import format_p

METRICS = ("ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100")
SYSTEMS = (("finetuned", "this model"), ("zeroshot", "the base model, zero-shot"), ("bm25", "BM25 flat (Pyserini)"),
           ("bm25_multifield", "BM25 multifield (Pyserini)"))


def _table(rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(str(c) for c in rows[0]) + " |", "| " + " | ".join("---" for _ in rows[0]) + " |"]
    return out + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows[1:]]


def render(model: dict[str, Any], mix: dict[str, Any], train: dict[str, Any], manifest: dict[str, Any],
           evaluate: dict[str, Any], baselines: dict[str, Any], train_metrics: dict[str, Any],
           mix_metrics: dict[str, Any], synthesize: dict[str, Any], comparisons: dict[str, dict] | None = None) -> str:
    """The card as markdown (params: ``model``, ``mix``, ``train`` sections; the rest: the stages' outputs;
    ``comparisons``: ``syneg.compare.compare`` results of this model against other systems, by their key)."""
    dataset = manifest.get("dataset", "?")
    lines = [f"# syneg retriever: {model.get('base')} fine-tuned on {dataset}", "",
             f"Written by the `card` stage from the params and metrics of the run that made `models/{dataset}/"
             f"finetuned` (for the first dataset of `data.train`, the DVC artifact `syneg-retriever`). Load it with "
             f"`SentenceTransformer(\"models/{dataset}/finetuned\")` after `dvc pull` or `dvc repro`.", "",
             "## Base model and data", "",
             f"- Base model: `{model.get('base')}`, {model.get('max_seq_length')} tokens per text.",
             f"- Data: BEIR `{dataset}`, {manifest.get('counts', {}).get('documents', '?')} documents; "
             f"sha256 of each source file in `data/{dataset}/prepared/manifest.json`.",
             f"- Training instances: {train_metrics.get('instances', '?')} (query, positive) pairs, "
             f"{mix.get('num_negatives')} hard negatives each.", ""]
    llm = f"`{synthesize.get('model', '?')}` through `{synthesize.get('backend', '?')}`"
    if synthesize.get("stand_in"):
        llm += " (the rule-based STAND-IN, not an LLM)"
    lines += ["## Negatives", "",
              f"- Strategy `{mix.get('strategy')}`, ratio {mix.get('ratio')}: {mix_metrics.get('synthetic', '?')} "
              f"synthetic, {mix_metrics.get('retrieved', '?')} retrieved, {mix_metrics.get('random', '?')} random "
              f"negatives (synthetic share {mix_metrics.get('synthetic_share', '?')}).",
              f"- Synthetic negatives written by {llm}, then checked by `reflect`.", "",
              "## Training", "",
              "InfoNCE (sentence-transformers' MultipleNegativesRankingLoss, in-batch and hard negatives).", ""]
    lines += _table([["param", "value"]] + [[f"train.{k}", v] for k, v in sorted(train.items())])
    lines += ["", f"Steps {train_metrics.get('steps', '?')}, final loss {train_metrics.get('train_loss', '?')}, "
              f"gradient-norm variance {train_metrics.get('grad_norm_variance', '?')} over "
              f"{train_metrics.get('grad_norm_steps', '?')} full batches.", "",
              f"## Scores on the {evaluate.get('split', baselines.get('split', '?'))} split", ""]
    scores = {**baselines, **evaluate}
    rows = [["system", *METRICS]]
    for key, name in SYSTEMS:
        if isinstance(scores.get(key), dict):
            rows.append([name, *(f"{100 * scores[key][m]:.2f}" for m in METRICS)])
    lines += _table(rows) if len(rows) > 1 else ["(no metrics yet)"]
    queries = (scores.get("finetuned") or {}).get("queries")
    lines += ["", f"ignore_identical_ids: {scores.get('ignore_identical_ids', '?')}. Scores x 100, pytrec_eval, "
              f"mean over all {queries if queries is not None else '?'} judged queries (a query with no retrieved "
              f"document counts 0).", ""]
    if comparisons:
        lines += ["## Differences, with their uncertainty", "",
                  "This model minus each other system, paired over the queries (one training run: the seed spread "
                  "is not in these intervals).", ""]
        rows = [["against", "metric", "difference", "95% CI", "queries differing", "p (randomization)",
                 "MDE (queries)"]]
        names = dict(SYSTEMS)
        for key, result in comparisons.items():
            for metric, pair in result["metrics"].items():
                row = pair[1]
                rows.append([names.get(key, key), metric, f"{100 * row['diff']:+.2f}",
                             f"[{100 * row['ci_low']:+.2f}, {100 * row['ci_high']:+.2f}]", row["differing"],
                             format_p(row["p_randomization"]),
                             f"{100 * row['mde_queries']:.2f}"])
        lines += _table(rows) + [""]
    return "\n".join(lines)
