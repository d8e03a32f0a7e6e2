import pytest

from syneg.llm import attributes
from syneg.llm.answers import CRITIQUE_SPEC, AnswerError, parse, synthesis_spec
from syneg.llm.prompt import render_critique, render_synthesis

ATTRS = {"domain": "Virology", "difficulty": "Intermediate (High School and Undergraduate)",
         "length": "nearly the same as"}
# The fixed sections first, the instance (persona, example, attributes) last: a local model reuses the prefix.
HEADS = ["[Task Definition]", "[Reasoning Definition]", "[Hard Negatives Definition]", "[Format Definition]",
         "Assume you are an expert", "[Attributes Definition]"]


def test_prompt_has_the_papers_five_sections_fixed_part_first_and_the_example():
    text = render_synthesis("Flu vaccines prevent hospital visits.", "Vaccination reduced admissions.", ATTRS, 3)
    assert text.startswith("[Task Definition]")
    assert 'Assume you are an expert in Virology, and there is an example with a "user_query"' in text
    pos = [text.index(h) for h in HEADS]
    assert pos == sorted(pos)
    assert "The positive_document has 3 words." in text
    other = render_synthesis("Another claim.", "Another document of other words.", {**ATTRS, "domain": "Pharmacology"}, 3)
    shared = next(i for i, (a, b) in enumerate(zip(text, other)) if a != b)
    assert shared >= text.index("Assume you are an expert")  # everything before the instance is shared
    assert '"user_query": "Flu vaccines prevent hospital visits."' in text
    assert ("education level of Intermediate (High School and Undergraduate) to comprehend, and the length "
            "should be nearly the same as the positive_document") in text
    assert "exactly 3 strings" in text and "write 3 hard negative documents" in text
    assert '{"reasoning": "<your step-by-step reasoning' in text


def test_ablations_remove_the_attributes_then_the_reflection():
    no_attr = render_synthesis("q", "p", ATTRS, 2, variant="no_attributes")
    assert "Assume you are an expert, and" in no_attr and "[Attributes Definition]" not in no_attr
    assert "Virology" not in no_attr and "[Reasoning Definition]" in no_attr
    bare = render_synthesis("q", "p", ATTRS, 2, variant="no_attributes_no_reflection")
    assert "[Reasoning Definition]" not in bare and '"reasoning"' not in bare
    assert [h for h in HEADS if h in bare] == ["[Task Definition]", "[Hard Negatives Definition]", "[Format Definition]",
                                               "Assume you are an expert"]
    assert "reasoning" not in synthesis_spec(2, reasoning=False).json_schema["schema"]["properties"]
    with pytest.raises(ValueError, match="use one of full, no_attributes, no_attributes_no_reflection"):
        render_synthesis("q", "p", {}, 2, variant="no_reflection")


def test_critique_prompt_carries_the_candidate_and_the_attributes():
    text = render_critique("q?", "pos.", "cand.", ATTRS)
    assert '"candidate": "cand."' in text and "education level of Intermediate" in text
    assert "(the positive_document has 1 words, the candidate 1)" in text
    assert "[Attributes]\nNone were asked for." in render_critique("q?", "pos.", "cand.", {})
    assert text.startswith("[Task Definition]") and text.index("[Format Definition]") < text.index('"candidate"')


def test_attribute_sampling_is_seeded_per_instance_and_covers_the_lists():
    lists = {"domain": ["A", "B", "C"], "difficulty": ["x", "y"], "length": ["l"]}
    one = attributes.sample(lists, 42, "q1", "d1")
    assert one == attributes.sample(lists, 42, "q1", "d1")
    seen = {attributes.sample(lists, 42, f"q{i}", "d")["domain"] for i in range(60)}
    assert seen == {"A", "B", "C"}
    assert [attributes.sample(lists, 1, f"q{i}", "d") for i in range(20)] != \
        [attributes.sample(lists, 2, f"q{i}", "d") for i in range(20)]


@pytest.mark.parametrize("content, kind", [
    ('{"reasoning": "r", "hard_negatives": ["a", "b"]}', None),
    ('Sure! ```json\n{"reasoning": "r", "hard_negatives": ["a"]}\n```', None),
    ('Here: {"reasoning": "r", "hard_negatives": ["a"]} done', None),
    ('{"reasoning": "r", "hard_negatives": []}', "schema"),
    ('{"reasoning": "r", "hard_negatives": [""]}', "schema"),
    ('{"reasoning": "r"', "malformed_json"),
    ("", "empty"),
    ("[1, 2]", "schema"),
])
def test_answer_parsing(content, kind):
    spec = synthesis_spec(2)
    if kind is None:
        assert parse(content, spec).hard_negatives
    else:
        with pytest.raises(AnswerError) as exc:
            parse(content, spec)
        assert exc.value.kind == kind


def test_critique_answer_needs_a_revision_to_revise():
    ok = '{"answers_query": false, "on_topic": true, "keeps_attributes": true, "verdict": "keep", "reason": "fine"}'
    assert parse(ok, CRITIQUE_SPEC).verdict == "keep"
    with pytest.raises(AnswerError, match="revised_document"):
        parse(ok.replace('"keep"', '"revise"'), CRITIQUE_SPEC)
    with pytest.raises(AnswerError, match="verdict"):
        parse(ok.replace('"keep"', '"maybe"'), CRITIQUE_SPEC)


def test_a_template_is_checked_when_loaded(tmp_path, monkeypatch):
    import pytest

    from syneg.llm import prompt

    monkeypatch.setattr(prompt, "PROMPTS", tmp_path)
    prompt.template.cache_clear()
    try:
        (tmp_path / "paraphrase.jinja2").write_text("Rewrite:\n{{ document }}\n{{ documnet }}\n")
        with pytest.raises(prompt.PromptError, match=r"paraphrase.jinja2:3: unknown placeholder 'documnet'; this "
                                                     r"template may use document\."):
            prompt.check("paraphrase")
        (tmp_path / "paraphrase.jinja2").write_text("Rewrite:\n{% if document %}\n{{ document }}\n")
        with pytest.raises(prompt.PromptError, match=r"jinja2:3: Unexpected end of template.*'if'\. Fix the"):
            prompt.template.cache_clear()
            prompt.check("paraphrase")
        with pytest.raises(prompt.PromptError, match="prompt template .*critique.jinja2 not found"):
            prompt.check("critique")
    finally:
        prompt.template.cache_clear()
