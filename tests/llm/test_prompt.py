import pytest

from syneg.llm import attributes
from syneg.llm.prompt import render

ATTRS = {"domain": "Virology", "difficulty": "Intermediate (High School and Undergraduate)",
         "length": "nearly the same as"}


def test_prompt_has_the_papers_sections_in_order_and_the_example():
    text = render("Flu vaccines prevent hospital visits.", "Vaccination reduced admissions.", ATTRS, 2)
    assert text.startswith('Assume you are an expert in Virology, and there is an example with a "user_query"')
    heads = ["[Task Definition]", "[Reasoning Definition]", "[Hard Negatives Definition]",
             "[Attributes Definition]", "[Format Definition]"]
    pos = [text.index(h) for h in heads]
    assert pos == sorted(pos)
    assert '"user_query": "Flu vaccines prevent hospital visits."' in text
    assert ("education level of Intermediate (High School and Undergraduate) to comprehend, and the length "
            "should be nearly the same as the positive_document") in text
    assert "exactly 2 strings" in text


def test_without_attributes_ablation_drops_the_constraints():
    text = render("q", "p", {}, 2)
    assert "education level of" not in text and "[Attributes Definition]" in text


def test_attribute_sampling_is_seeded_per_instance_and_covers_the_lists():
    lists = {"domain": ["A", "B", "C"], "difficulty": ["x", "y"], "length": ["l"]}
    one = attributes.sample(lists, 42, "q1", "d1")
    assert one == attributes.sample(lists, 42, "q1", "d1")
    seen = {attributes.sample(lists, 42, f"q{i}", "d")["domain"] for i in range(60)}
    assert seen == {"A", "B", "C"}
    assert [attributes.sample(lists, 1, f"q{i}", "d") for i in range(20)] != \
        [attributes.sample(lists, 2, f"q{i}", "d") for i in range(20)]


@pytest.mark.parametrize("content, ok", [
    ('{"reasoning": "r", "hard_negatives": ["a", "b"]}', True),
    ('Sure! ```json\n{"reasoning": "r", "hard_negatives": ["a"]}\n```', True),
    ('Here: {"reasoning": "r", "hard_negatives": ["a"]} done', True),
    ('{"reasoning": "r", "hard_negatives": []}', False),
    ('{"reasoning": "r", "hard_negatives": [""]}', False),
    ('{"reasoning": "r"', False),
    ("", False),
    ("[1, 2]", False),
])
def test_answer_parsing(content, ok):
    from syneg.llm.answers import AnswerError, parse_synthesis

    if ok:
        assert parse_synthesis(content).hard_negatives
    else:
        with pytest.raises(AnswerError):
            parse_synthesis(content)
