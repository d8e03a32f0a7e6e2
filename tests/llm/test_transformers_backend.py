"""The transformers backend with a tiny random Llama and a locally trained tokenizer (offline, CPU, seconds)."""

import shutil

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from syneg.llm.base import Reply  # noqa: E402
from syneg.llm.transformers_backend import TransformersBackend  # noqa: E402

WORDS = ["the quick brown fox jumps over the lazy dog", "write a hard negative for this claim as json",
         "statins lower cholesterol in most adults", "user assistant system hello world answer"]
TEMPLATE = ("{% for m in messages %}<s> {{ m['role'] }} {{ m['content'] }} </s> {% endfor %}"
            "{% if add_generation_prompt %}<s> assistant {% endif %}")
PROMPTS = ["hello world", "the quick brown fox jumps over the lazy dog", "statins lower cholesterol",
           "write a hard negative for this claim as json please", "answer"]


def tokenizer(chat_template=TEMPLATE):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(WORDS, trainers.WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "<s>", "</s>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="[PAD]",
                                   unk_token="[UNK]")
    if chat_template:
        fast.chat_template = chat_template
    return fast


def save_model(folder, seed=0, chat_template=TEMPLATE):
    tok = tokenizer(chat_template)
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=512, bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def generate_calls(monkeypatch):
    """Every ``generate`` call's keyword arguments, through the real method."""
    calls = []
    real = transformers.LlamaForCausalLM.generate

    def spy(self, *args, **kwargs):
        calls.append(kwargs)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(transformers.LlamaForCausalLM, "generate", spy)
    return calls


def bodies(backend, prompts=PROMPTS):
    return [backend.body([{"role": "user", "content": p}], "text", None) for p in prompts]


def run(backend, bs):
    got: dict[int, list[Reply]] = {}
    backend.complete(bs, [f"k{j}" for j in range(len(bs))], lambda j, r: got.setdefault(j, []).append(r))
    return got


def test_batches_of_batch_size_and_one_reply_per_request(model_dir, generate_calls):
    b = TransformersBackend(model_dir, temperature=0.7, max_tokens=6, batch_size=2, device="cpu")
    got = run(b, bodies(b))
    assert sorted(got) == [0, 1, 2, 3, 4] and all(len(v) == 1 for v in got.values())
    assert len(generate_calls) == 3  # 2 + 2 + 1
    assert all(kw["do_sample"] and kw["temperature"] == 0.7 and kw["max_new_tokens"] == 6 for kw in generate_calls)
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    for j, (r,) in got.items():
        assert not r.error and r.finish_reason in ("stop", "length")
        assert 1 <= r.completion_tokens <= 6 and (r.finish_reason != "length" or r.completion_tokens == 6)
        rendered = tok.apply_chat_template([{"role": "user", "content": PROMPTS[j]}], add_generation_prompt=True,
                                           tokenize=False)
        assert r.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])  # padding not counted
    # Sampling is seeded before each batch, so the same requests in the same batches give the same answers.
    assert [r.content for (r,) in run(b, bodies(b)).values()] == [r.content for (r,) in got.values()]
    b.close()


def test_greedy_is_deterministic_and_left_padding_does_not_change_an_answer(model_dir, generate_calls):
    b = TransformersBackend(model_dir, temperature=0, max_tokens=8, batch_size=5, device="cpu")
    batched = [r.content for (r,) in run(b, bodies(b)).values()]
    assert [r.content for (r,) in run(b, bodies(b)).values()] == batched
    assert "temperature" not in {k for kw in generate_calls for k, v in kw.items() if v is not None}
    alone = TransformersBackend(model_dir, temperature=0, max_tokens=8, batch_size=1, device="cpu")
    assert [r.content for (r,) in run(alone, bodies(alone)).values()] == batched
    assert len(generate_calls) == 1 + 1 + 5
    assert any(batched)  # the comparison is not between empty answers


def test_the_prompt_goes_through_the_chat_template(model_dir, generate_calls):
    b = TransformersBackend(model_dir, temperature=0, max_tokens=2, batch_size=1, device="cpu")
    run(b, bodies(b, ["hello world"]))
    tok = transformers.AutoTokenizer.from_pretrained(model_dir)
    sent = tok.convert_ids_to_tokens(generate_calls[0]["input_ids"][0].tolist())
    # One BOS, the role, the text, the turn end and the generation prompt of the template.
    assert sent == ["<s>", "user", "hello", "world", "</s>", "<s>", "assistant"]


def test_identity_follows_the_weights_and_body_holds_the_request(model_dir, tmp_path):
    other = save_model(tmp_path / "other", seed=1)
    same = shutil.copytree(model_dir, tmp_path / "copy")
    ids = [TransformersBackend(p).identity() for p in (model_dir, other, same)]
    assert ids[0]["backend"] == "transformers" and ids[0] != ids[1] and ids[0] == ids[2]
    b = TransformersBackend(model_dir, temperature=0.2, seed=7, max_tokens=33)
    msgs = [{"role": "user", "content": "hi"}]
    assert b.body(msgs, "json_schema", {"name": "x"}) == {"model": model_dir, "messages": msgs, "temperature": 0.2,
                                                          "seed": 7, "max_new_tokens": 33}
    assert b.formats == ("text",) and b.free and b._lm is None  # building it loaded nothing


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="llm.transformers.path"):
        TransformersBackend("")
    with pytest.raises(ValueError, match="llm.transformers.path"):
        TransformersBackend(temperature=0.7, seed=1, max_tokens=9)  # params.yaml without the path
    with pytest.raises(ValueError, match="batch_size is 0; use 1 or more"):
        TransformersBackend("/models/x", batch_size=0)
    plain = save_model(tmp_path / "plain", chat_template=None)
    b = TransformersBackend(plain, device="cpu")
    with pytest.raises(ValueError, match=f"tokenizer at {plain} has no chat_template"):
        b.complete(bodies(b, ["hello"]), ["k"], lambda j, r: None)


def test_a_failed_batch_becomes_failed_replies(model_dir, monkeypatch):
    def oom(self, *args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(transformers.LlamaForCausalLM, "generate", oom)
    b = TransformersBackend(model_dir, batch_size=2, device="cpu")
    got = run(b, bodies(b, PROMPTS[:3]))
    assert sorted(got) == [0, 1, 2]
    assert all(r.error == "generation: RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
               for (r,) in got.values())


def test_answers_are_stored_and_a_warm_rerun_generates_nothing(model_dir, tmp_path, generate_calls):
    asking = pytest.importorskip("syneg.llm.asking")
    from syneg.llm.answers import synthesis_spec
    from syneg.llm.cache import AnswerCache

    spec, prompts = synthesis_spec(2), ["write a hard negative", "statins lower cholesterol"]
    cache = AnswerCache(tmp_path / "answers")
    asker = asking.Asker(TransformersBackend(model_dir, temperature=0, max_tokens=6, device="cpu"), cache,
                         response_format="json_schema", max_reasks=1)
    first = asker.ask(prompts, spec)
    # Random weights write no JSON; a row cut at max_tokens counts as truncated.
    assert all(a.value is None and a.category in ("malformed_json", "empty", "truncated") for a in first)
    assert asker.fmt == "text" and asker.counts["reasks"] == 2
    assert len(generate_calls) == 2 and asker.stats()["requests"] == 4 and asker.stats()["cost_usd"] == 0
    cache.close()

    cache = AnswerCache(tmp_path / "answers")
    again = asking.Asker(TransformersBackend(model_dir, temperature=0, max_tokens=6, device="cpu"), cache,
                         max_reasks=1)
    assert [a.error for a in again.ask(prompts, spec)] == [a.error for a in first]
    assert len(generate_calls) == 2 and again.stats()["requests"] == 0 and again.stats()["cache_hits"] == 4
    cache.close()
